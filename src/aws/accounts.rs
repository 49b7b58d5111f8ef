//! Which accounts a run reads and the credentials of each: the credentials' own account, named
//! profiles (each its own credentials and region), or a role assumed from the base credentials in
//! listed accounts or in every active account of the organisation (Organizations `ListAccounts`).
//!
//! A role is assumed once for each account before any lookup is sent, several at a time: one that
//! cannot be assumed fails that account alone (named, with STS's reason) and the others go on. The
//! SDK then refreshes the role's credentials before they expire, so long runs and `--follow` outlive
//! the role's session; the accounts' regions share one cache of them.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_cloudtrail::config::{IdentityCache, ProvideCredentials, SharedCredentialsProvider, SharedIdentityCache};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{credentials_provider, load_sdk_config, Connection};
use crate::text::printable;

/// Attempts at each AssumeRole call when STS throttles or fails for a passing reason.
const ASSUME_ATTEMPTS: u32 = 4;

/// The `{account}` of a `--role-arn` template.
pub const ACCOUNT_PLACEHOLDER: &str = "{account}";

/// Which accounts, as the options ask.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Accounts {
    /// The account of the credentials (`--profile` with one name, the environment, CloudShell).
    #[default]
    Own,
    /// `--profile a,b,c`: each profile is one account.
    Profiles(Vec<String>),
    /// `--accounts … --role-name/--role-arn`.
    Roles(Roles),
}

/// Roles assumed in several accounts from the base credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// None: every ACTIVE account of the organisation.
    pub accounts: Option<Vec<String>>,
    pub exclude: Vec<String>,
    /// The role's ARN with `{account}` where the account ID goes.
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

impl Roles {
    pub fn role_arn(&self, account: &str) -> String {
        self.role_arn.replace(ACCOUNT_PLACEHOLDER, account)
    }
}

/// One account of the run.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its ID when known before any lookup (an assumed role's account); a profile's is found by the store.
    pub id: Option<String>,
    /// How messages name it: `account 111111111111`, `profile prod`.
    pub label: String,
    /// How to reach it: its profile, or its role's credentials.
    pub connection: Connection,
    /// Why it cannot be read; none of its lookups is sent.
    pub failure: Option<String>,
}

/// Credentials of an assumed role, with the cache that keeps them fresh across the account's clients.
#[derive(Debug, Clone)]
pub struct Assumed {
    pub role_arn: String,
    pub provider: SharedCredentialsProvider,
    pub cache: SharedIdentityCache,
}

/// The accounts of a run, in the order asked (the organisation's in its order), excluded ones left
/// out. `parallel` roles are assumed at a time; `offline` assumes none (nothing is sent).
pub async fn resolve(accounts: &Accounts, base: &Connection, parallel: usize, offline: bool) -> Result<Vec<Account>> {
    match accounts {
        Accounts::Own => Ok(vec![Account { id: None, label: String::new(), connection: base.clone(), failure: None }]),
        Accounts::Profiles(profiles) => {
            let mut out = Vec::new();
            for profile in profiles {
                super::check_profile(profile).await?;
                let connection = Connection { profile: Some(profile.clone()), ..base.clone() };
                out.push(Account { id: None, label: format!("profile {profile}"), connection, failure: None });
            }
            Ok(out)
        }
        Accounts::Roles(roles) => {
            let ids = match &roles.accounts {
                Some(ids) => ids.clone(),
                None if offline => return Err(crate::error::usage(
                    "--offline sends nothing, so it cannot list the organisation's accounts: name them with --accounts",
                )),
                None => organization_accounts(base).await?,
            };
            let mut ids: Vec<String> = ids.into_iter().filter(|id| !roles.exclude.contains(id)).collect();
            let mut seen = std::collections::HashSet::new();
            ids.retain(|id| seen.insert(id.clone()));
            if ids.is_empty() {
                let why = if roles.exclude.is_empty() {
                    "the organisation lists no active account"
                } else {
                    "--exclude-account leaves none of the accounts asked"
                };
                return Err(anyhow!("no account to read: {why}"));
            }
            assume_all(roles, &ids, base, parallel, offline).await
        }
    }
}

/// Every ACTIVE account of the organisation, through the base credentials.
async fn organization_accounts(base: &Connection) -> Result<Vec<String>> {
    let (sdk_config, _) = load_sdk_config(&base.in_region(Some(base.region.as_deref().unwrap_or("us-east-1")))).await?;
    let mut builder = aws_sdk_organizations::config::Builder::from(&sdk_config).interceptor(super::cap::AnswerCap);
    builder.set_credentials_provider(credentials_provider(base, &sdk_config));
    let client = aws_sdk_organizations::Client::from_conf(builder.build());
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    let mut tokens = std::collections::HashSet::new();
    let mut malformed = 0;
    // A cap on pages, as for every paged call: 20 accounts a page, 1,000 pages is 20,000 accounts.
    for _ in 0..1000 {
        let page = client.list_accounts().set_next_token(token.clone()).send().await.map_err(|err| {
            anyhow!(
                "--accounts org: Organizations ListAccounts failed: {} (it needs organizations:ListAccounts, from \
                 the management account or a delegated administrator)",
                printable(&super::describe::service_failure(&err), 300)
            )
        })?;
        for account in page.accounts() {
            #[allow(deprecated)]
            let active = match (account.state(), account.status()) {
                (Some(state), _) => state.as_str() == "ACTIVE",
                (None, Some(status)) => status.as_str() == "ACTIVE",
                (None, None) => true,
            };
            match account.id() {
                Some(id) if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) => {
                    if active {
                        ids.push(id.to_owned());
                    }
                }
                // Not an AWS account ID: nothing to build a role's ARN from.
                _ => malformed += 1,
            }
        }
        token = page.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
        match &token {
            None => {
                if malformed > 0 {
                    crate::error::warn(format_args!(
                        "--accounts org: Organizations listed {malformed} account(s) without a 12-digit ID; left out"
                    ));
                }
                return Ok(ids);
            }
            Some(next) if !tokens.insert(next.clone()) => {
                return Err(anyhow!("--accounts org: Organizations ListAccounts pages came back in a loop; stopped"))
            }
            Some(_) => {}
        }
    }
    Err(anyhow!("--accounts org: Organizations ListAccounts pages did not end after 1,000 pages"))
}

/// Each account's role, assumed once to check it (a refusal becomes that account's failure).
async fn assume_all(
    roles: &Roles,
    ids: &[String],
    base: &Connection,
    parallel: usize,
    offline: bool,
) -> Result<Vec<Account>> {
    let (sdk_config, _) = load_sdk_config(base).await?;
    let base_provider =
        credentials_provider(base, &sdk_config).ok_or_else(|| anyhow!("no AWS credentials to assume roles with"))?;
    // STS's own retries, unlike the LookupEvents client's (whose loop waits its turn at the rate
    // limiter): many roles assumed at once can meet its request rate, and a renewal must not fail
    // a long run for a passing reason.
    let sts_config =
        sdk_config.to_builder().retry_config(RetryConfig::standard().with_max_attempts(ASSUME_ATTEMPTS)).build();
    let permits = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = JoinSet::new();
    for (index, id) in ids.iter().enumerate() {
        let role_arn = roles.role_arn(id);
        let mut builder = AssumeRoleProvider::builder(role_arn.clone()).session_name(roles.session_name.clone());
        if let Some(external_id) = &roles.external_id {
            builder = builder.external_id(external_id.clone());
        }
        let provider = builder.configure(&sts_config).build_from_provider(base_provider.clone()).await;
        let provider = SharedCredentialsProvider::new(provider);
        let assumed = Assumed { role_arn, provider, cache: IdentityCache::lazy().build() };
        let connection = Connection { profile: None, assumed: Some(assumed.clone()), ..base.clone() };
        let account = Account { id: Some(id.clone()), label: format!("account {id}"), connection, failure: None };
        let permits = permits.clone();
        tasks.spawn(async move {
            if offline {
                return (index, account);
            }
            let _permit = permits.acquire().await;
            let mut account = account;
            if let Err(err) = assumed.provider.provide_credentials().await {
                let reason = printable(&credentials_reason(&err), 300);
                account.failure = Some(format!("cannot assume {}: {reason}", assumed.role_arn));
            }
            (index, account)
        });
    }
    let mut out: Vec<Option<Account>> = vec![None; ids.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, account) = joined.map_err(|_| anyhow!("a task assuming a role failed"))?;
        out[index] = Some(account);
    }
    Ok(out.into_iter().flatten().collect())
}

type AssumeRoleFailure = aws_sdk_sts::error::SdkError<
    aws_sdk_sts::operation::assume_role::AssumeRoleError,
    aws_sdk_sts::config::http::HttpResponse,
>;

/// The AssumeRole failure under a credentials error, if STS was reached or tried.
fn assume_role_failure<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e AssumeRoleFailure> {
    let mut next = Some(err);
    while let Some(cause) = next {
        if let Some(failure) = cause.downcast_ref::<AssumeRoleFailure>() {
            return Some(failure);
        }
        next = cause.source();
    }
    None
}

/// What a credentials error says: STS's code and message when it answered, else the causes.
fn credentials_reason(err: &(dyn std::error::Error + 'static)) -> String {
    if let Some(failure) = assume_role_failure(err) {
        return super::describe::service_failure(failure);
    }
    match super::describe::causes(err) {
        causes if causes.is_empty() => err.to_string(),
        causes => causes,
    }
}

//! Many accounts at once: roles assumed in listed accounts or the organisation's, named profiles, each
//! account and region its own lookup at its own rate limit, merged newest first; a failed account
//! named while the others complete; the store and resume tokens keeping accounts apart.

use std::time::Duration;

use chrono::{DateTime, Utc};
use fake_cloudtrail::generate::{self, GenOptions};
use fake_cloudtrail::server::FakeCloudTrail;
use serde_json::Value;

use super::common::*;

const ACCOUNTS: [&str; 5] = ["111111111111", "222222222222", "333333333333", "444444444444", "555555555555"];
const REGIONS: &str = "us-east-1,us-west-2";

/// `count` records of `account` (its own seed), newest at `newest`, up to `gap` seconds apart.
fn account_records_apart(account: &str, count: usize, newest: DateTime<Utc>, gap: u32) -> Vec<Value> {
    let seed = account.parse::<u64>().unwrap() % 1_000_003 + u64::from(gap);
    generate::records(&GenOptions { seed, count, newest, max_gap_secs: gap })
        .map(|mut record| {
            record["recipientAccountId"] = Value::from(account);
            record
        })
        .collect()
}

fn account_records(account: &str, count: usize, newest: DateTime<Utc>) -> Vec<Value> {
    account_records_apart(account, count, newest, 900)
}

/// A fake holding each account's own Event history, partitioned by account and region as the service is.
fn serve_accounts(accounts: &[&str], per_account: usize) -> (FakeCloudTrail, Vec<Value>) {
    let all: Vec<Value> = accounts.iter().flat_map(|a| account_records(a, per_account, fixed_newest())).collect();
    let server = serve(&all);
    server.set_partition_by_account(true);
    server.set_partition_by_region(true);
    (server, all)
}

/// IDs of the records of these accounts in these regions.
fn ids_of(records: &[Value], accounts: &[&str], regions: &[&str]) -> Vec<String> {
    ids_where(records, |r| {
        accounts.contains(&r["recipientAccountId"].as_str().unwrap())
            && regions.contains(&r["awsRegion"].as_str().unwrap())
    })
}

/// The records printed as JSON Lines.
fn printed(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// Each event once, newest first, and exactly the `expected` ones.
fn assert_merged(stdout: &[u8], expected: &[String]) {
    let records = printed(stdout);
    let times: Vec<&str> = records.iter().map(|r| r["eventTime"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_each_once(records.iter().map(event_id).collect(), expected);
}

/// Each event once, and exactly the `expected` ones.
fn assert_each_once(mut ids: Vec<String>, expected: &[String]) {
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "each event once");
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(ids, expected);
}

/// The accounts whose credentials signed LookupEvents requests.
fn accounts_asked(server: &FakeCloudTrail) -> Vec<String> {
    let mut accounts: Vec<String> =
        server.requests().iter().filter_map(|r| r.access_key_id.as_deref().map(|key| server.account_of(key))).collect();
    accounts.sort();
    accounts.dedup();
    accounts
}

#[test]
fn five_accounts_in_two_regions_are_merged_newest_first_at_two_requests_per_second_each() {
    let sb = Sandbox::new();
    let (server, records) = serve_accounts(&ACCOUNTS, 120);
    server.set_rate_limit(Some(2.0));
    // STS throttles too when many roles are assumed at once: asked again, none fails.
    server.set_assume_role_throttle_every(Some(2));
    let out = run_ok(sb.ctlookup().args([
        "--endpoint-url",
        &server.url(),
        "--accounts",
        &ACCOUNTS.join(","),
        "--role-name",
        "audit",
        "--region",
        REGIONS,
        "--no-store",
        "-v",
    ]));
    assert_merged(&out.stdout, &ids_of(&records, &ACCOUNTS, &["us-east-1", "us-west-2"]));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("reading 10 lookups (5 accounts), at most 16 requests at a time: us-east-1 of account"),
        "{stderr}"
    );
    assert!(stderr.contains("requests: us-east-1 of account 111111111111 "), "{stderr}");
    let throttled = server.requests().iter().filter(|r| r.error_type.is_some()).count();
    assert_eq!(throttled, 0, "each account and region at its own 2 requests/s");
    assert_eq!(accounts_asked(&server), ACCOUNTS);
    let assumed: Vec<_> = server.sts_requests().into_iter().filter(|r| r.action == "AssumeRole").collect();
    for account in ACCOUNTS {
        let arn = format!("arn:aws:iam::{account}:role/audit");
        assert!(assumed.iter().any(|r| r.role_arn.as_deref() == Some(arn.as_str())), "{arn} assumed");
    }
    assert!(assumed.iter().all(|r| r.session_name.as_deref() == Some("ctlookup")));
    assert!(assumed.iter().any(|r| r.status == 400), "some AssumeRole calls were throttled");
}

#[test]
fn a_role_that_cannot_be_assumed_fails_its_account_alone() {
    let sb = Sandbox::new();
    let (server, records) = serve_accounts(&ACCOUNTS, 60);
    server.set_refused_roles(&[ACCOUNTS[2]]);
    let out = run_code(
        sb.api(&server.url()).args([
            "--accounts",
            &ACCOUNTS.join(","),
            "--role-arn",
            "arn:aws:iam::{account}:role/audit/ctlookup",
            "--external-id",
            "xyz",
            "--region",
            REGIONS,
            "--no-store",
        ]),
        1,
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let others: Vec<&str> = ACCOUNTS.iter().copied().filter(|a| *a != ACCOUNTS[2]).collect();
    assert_merged(&out.stdout, &ids_of(&records, &others, &["us-east-1", "us-west-2"]));
    assert!(
        stderr.contains("account 333333333333: cannot assume arn:aws:iam::333333333333:role/audit/ctlookup"),
        "{stderr}"
    );
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    assert!(stderr.contains("1 of 5 accounts failed"), "{stderr}");
    assert!(stderr.contains("the other 4 accounts are complete"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert_eq!(stderr.matches("333333333333:role").count(), 2, "said once: {stderr}");
    assert!(!accounts_asked(&server).contains(&ACCOUNTS[2].to_owned()), "nothing sent for the failed account");
    let external: Vec<_> = server.sts_requests().into_iter().filter(|r| r.action == "AssumeRole").collect();
    assert!(external.iter().all(|r| r.external_id.as_deref() == Some("xyz")));
    assert!(stderr.lines().all(|l| !l.contains('\u{1b}')));
}

#[test]
fn an_account_whose_lookups_are_refused_is_named_with_its_regions_and_the_others_complete() {
    let sb = Sandbox::new();
    let (server, records) = serve_accounts(&ACCOUNTS[..3], 60);
    server.set_refused_accounts(&[ACCOUNTS[1]]);
    let out = run_code(
        sb.api(&server.url()).args(["--accounts", &ACCOUNTS[..3].join(","), "--role-name", "r", "--region", REGIONS]),
        1,
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_merged(&out.stdout, &ids_of(&records, &[ACCOUNTS[0], ACCOUNTS[2]], &["us-east-1", "us-west-2"]));
    assert!(
        stderr.starts_with("ctlookup: 1 of 3 accounts failed: LookupEvents in us-east-1 of account 222222222222"),
        "{stderr}"
    );
    assert!(stderr.contains("us-west-2 of account 222222222222"), "{stderr}");
    assert!(stderr.contains("service control policy"), "{stderr}");
    assert!(stderr.contains("the other 2 accounts are complete"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn accounts_org_reads_every_active_account_of_the_organisation_but_the_excluded() {
    let sb = Sandbox::new();
    // 25 members: two pages of ListAccounts; one suspended, one left out by the user.
    let mut members: Vec<(String, String, String)> = (0..25)
        .map(|i| (format!("{:012}", 900_000_000_000u64 + i), format!("member{i}"), "ACTIVE".to_owned()))
        .collect();
    members[3].2 = "SUSPENDED".to_owned();
    // A hostile listing: an ID that is no account ID, with a control sequence in it.
    members.push(("12\u{1b}[31m".to_owned(), "bad".to_owned(), "ACTIVE".to_owned()));
    let with_data: Vec<&str> = vec![&members[1].0, &members[3].0, &members[7].0, &members[24].0];
    let (server, records) = serve_accounts(&with_data, 40);
    let list: Vec<(&str, &str, &str)> = members.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
    server.set_organization(&list);
    let out = run_ok(sb.api(&server.url()).args([
        "--accounts",
        "org",
        "--exclude-account",
        &members[7].0,
        "--role-name",
        "audit",
        "--region",
        "us-east-1",
        "--no-store",
        "-o",
        "csv",
        "--columns",
        "eventID,account",
    ]));
    assert_eq!(server.organizations_requests().len(), 2, "both pages of the organisation");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 account(s) without a 12-digit ID; left out") && !stderr.contains('\u{1b}'), "{stderr}");
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("eventID,account"));
    let mut ids: Vec<String> = lines.map(|l| l.split(',').next().unwrap().to_owned()).collect();
    ids.sort();
    let mut expected = ids_of(&records, &[&members[1].0, &members[24].0], &["us-east-1"]);
    expected.sort();
    assert_eq!(ids, expected);
    let assumed: Vec<String> = server
        .sts_requests()
        .into_iter()
        .filter(|r| r.action == "AssumeRole")
        .filter_map(|r| r.role_arn)
        .map(|arn| arn.split(':').nth(4).unwrap().to_owned())
        .collect();
    assert!(!assumed.contains(&members[3].0), "a suspended account is not read");
    assert!(!assumed.contains(&members[7].0), "an excluded account is not read");
    let mut distinct = assumed.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 23);

    // Without the permission: one line, exit 1, nothing else sent.
    server.set_refuse_organizations(true);
    let requests = server.requests().len();
    let out = run_code(sb.api(&server.url()).args(["--accounts", "org", "--role-name", "audit", "--no-store"]), 1);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("organizations:ListAccounts"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(server.requests().len(), requests);
}

#[test]
fn several_profiles_read_one_account_each_with_an_account_column() {
    let sb = Sandbox::new();
    let (server, records) = serve_accounts(&ACCOUNTS[..2], 50);
    server.set_account("AKIDPROFILEA00000000", ACCOUNTS[0]);
    server.set_account("AKIDPROFILEB00000000", ACCOUNTS[1]);
    write(
        &sb.path("aws-credentials"),
        "[a]\naws_access_key_id = AKIDPROFILEA00000000\naws_secret_access_key = s\n\
         [b]\naws_access_key_id = AKIDPROFILEB00000000\naws_secret_access_key = s\n",
    );
    write(&sb.path("aws-config"), "[profile a]\nregion = us-east-1\n[profile b]\nregion = us-west-2\n[profile c]\n");
    // Each profile in its own region (AWS_REGION would win over the profiles' regions, as in the aws CLI).
    let profiles = |args: &[&str]| {
        let mut cmd = sb.api(&server.url());
        cmd.env_remove("AWS_REGION").args(args);
        cmd
    };
    let out = run_ok(&mut profiles(&["--profile", "a,b", "--no-store"]));
    let mut expected = ids_of(&records, &ACCOUNTS[..1], &["us-east-1"]);
    expected.extend(ids_of(&records, &ACCOUNTS[1..2], &["us-west-2"]));
    assert_merged(&out.stdout, &expected);

    let out = run_ok(&mut profiles(&["--profile", "a", "--profile", "b", "--no-store", "-o", "table"]));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().next().unwrap().contains("account"), "{table}");
    assert!(table.contains(ACCOUNTS[0]) && table.contains(ACCOUNTS[1]), "{table}");

    let out = run_ok(&mut profiles(&["--profile", "a,b", "--no-store", "--count-by", "account", "-o", "jsonl"]));
    let counts = printed(&out.stdout);
    for (account, region) in [(ACCOUNTS[0], "us-east-1"), (ACCOUNTS[1], "us-west-2")] {
        let row = counts.iter().find(|c| c["account"] == account).expect("a row per account");
        assert_eq!(row["count"], ids_of(&records, &[account], &[region]).len());
    }

    let out = run_code(&mut profiles(&["--profile", "a,c", "--no-store"]), 1);
    assert!(String::from_utf8(out.stderr).unwrap().starts_with("ctlookup: profile c: no AWS region"));
    let out = run_code(&mut profiles(&["--profile", "a,nosuch", "--no-store"]), 2);
    assert!(String::from_utf8(out.stderr).unwrap().contains("--profile nosuch: no such profile"));
}

#[test]
fn the_store_keeps_accounts_apart_and_tokens_bind_the_accounts() {
    let sb = Sandbox::new();
    let (server, records) = serve_accounts(&ACCOUNTS[..3], 60);
    let roles = |accounts: &[&str]| vec!["--accounts".to_owned(), accounts.join(","), "--role-name".into(), "r".into()];
    let until = ["--since", "2024-07-01", "--until", "2024-07-23"];
    run_ok(sb.api(&server.url()).arg("sync").args(roles(&ACCOUNTS[..2])).args(until).args(["--region", REGIONS]));
    let out = run_ok(sb.ctlookup().args(["store", "-o", "jsonl"]));
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(listing.contains(ACCOUNTS[0]) && listing.contains(ACCOUNTS[1]), "{listing}");
    assert!(!listing.contains(ACCOUNTS[2]), "{listing}");
    // Offline, one account: its own events only, nothing sent (no role assumed either).
    let requests = (server.requests().len(), server.sts_requests().len());
    let out =
        run_ok(sb.api(&server.url()).args(roles(&ACCOUNTS[1..2])).args(until).args(["--region", REGIONS, "--offline"]));
    assert_merged(&out.stdout, &ids_of(&records, &ACCOUNTS[1..2], &["us-east-1", "us-west-2"]));
    assert_eq!((server.requests().len(), server.sts_requests().len()), requests);
    // A third account the store does not hold cannot be answered offline.
    let out = run_code(sb.api(&server.url()).args(roles(&ACCOUNTS)).args(until).args(["--offline"]), 1);
    assert!(String::from_utf8(out.stderr).unwrap().contains("333333333333"));

    // A token of two accounts continues those two, and no other set.
    let out = run_ok(sb.api(&server.url()).args(roles(&ACCOUNTS[..2])).args(["--no-store", "--max-items", "30"]));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let token = stderr.split("--starting-token ").nth(1).expect("a token").trim().to_owned();
    let rest = run_ok(sb.api(&server.url()).args(roles(&ACCOUNTS[..2])).args(["--starting-token", &token]));
    let mut all = jsonl_ids(&out.stdout);
    all.extend(jsonl_ids(&rest.stdout));
    assert_each_once(all, &ids_of(&records, &ACCOUNTS[..2], &["us-east-1"]));
    let out =
        run_code(sb.api(&server.url()).args(roles(&[ACCOUNTS[0], ACCOUNTS[2]])).args(["--starting-token", &token]), 2);
    assert!(String::from_utf8(out.stderr).unwrap().contains("belongs to another query"));
}

#[test]
fn roles_are_refreshed_while_following_longer_than_their_lifetime() {
    let sb = Sandbox::new();
    let newest = Utc::now() - chrono::Duration::seconds(30);
    let records: Vec<Value> = ACCOUNTS[..2].iter().flat_map(|a| account_records_apart(a, 5, newest, 5)).collect();
    let server = serve(&records);
    server.set_partition_by_account(true);
    server.set_role_lifetime(Duration::from_secs(12));
    let mut cmd = sb.std_ctlookup();
    cmd.args(["--endpoint-url", &server.url(), "--tps", FAST_TPS, "--follow", "--poll", "1", "--no-store"]);
    cmd.args(["--accounts", &ACCOUNTS[..2].join(","), "--role-name", "r"]);
    let mut running = Running::start(&mut cmd);
    let printed_count = |running: &Running| String::from_utf8_lossy(&running.stdout()).lines().count();
    assert!(wait_until(PATIENCE, || printed_count(&running) >= 10), "{}", running.stderr());
    // Past the first credentials' lifetime, a new event of the second account.
    std::thread::sleep(Duration::from_secs(14));
    let late = account_records_apart(ACCOUNTS[1], 1, Utc::now(), 1).remove(0);
    server.add_events(vec![envelope(&late)]);
    let id = event_id(&late);
    let seen = wait_until(PATIENCE, || String::from_utf8_lossy(&running.stdout()).contains(&id));
    assert!(seen, "the new event is printed: {}", running.stderr());
    running.interrupt(SIGINT);
    let out = running.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("expired"), "{stderr}");
    let expired = server.requests().iter().filter(|r| r.error_type.as_deref() == Some("ExpiredTokenException")).count();
    assert_eq!(expired, 0);
    let assumed = server.sts_requests().iter().filter(|r| r.action == "AssumeRole").count();
    assert!(assumed > 2 * 2, "each role assumed again before it expired ({assumed} AssumeRole calls)");
}

#[test]
fn account_options_are_checked_before_anything_is_sent() {
    let sb = Sandbox::new();
    let server = serve(&[]);
    for (args, says) in [
        (vec!["--accounts", "111111111111"], "--accounts needs the role to assume"),
        (vec!["--role-name", "r"], "--role-name applies to --accounts"),
        (vec!["--exclude-account", "111111111111"], "--exclude-account applies to --accounts"),
        (vec!["--accounts", "org,111111111111", "--role-name", "r"], "--accounts org stands alone"),
        (vec!["--accounts", "12345", "--role-name", "r"], "--accounts '12345': expected a 12-digit account ID or org"),
        (vec!["--accounts", "111111111111", "--role-arn", "arn:aws:iam::111111111111:role/r"], "put {account}"),
        (
            vec!["--accounts", "111111111111", "--role-name", "r", "--role-arn", "arn:aws:iam::{account}:role/r"],
            "give one",
        ),
        (vec!["--profile", "a,b", "--accounts", "111111111111", "--role-name", "r"], "at most one --profile"),
        (vec!["--parallel", "0"], "--parallel must be from 1 to 256"),
    ] {
        let out = run_code(sb.api(&server.url()).args(&args), 2);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    assert!(server.requests().is_empty() && server.sts_requests().is_empty());
}

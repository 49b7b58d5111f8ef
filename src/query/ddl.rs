//! The Athena table of a CloudTrail trail bucket: the `CREATE EXTERNAL TABLE` the Athena User Guide
//! documents for CloudTrail ("Create the table for CloudTrail logs in Athena using partition
//! projection"), with partition projection over `account`, `region` and `timestamp` so that queries prune
//! by partition without crawlers or `ALTER TABLE ADD PARTITION`. Also the one description of the table's
//! columns that the SQL compiler (`sql.rs`) maps field paths onto.

use chrono::NaiveDate;

/// How a column or struct field holds its part of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// STRING from a JSON string of the record.
    Text,
    /// STRING from a JSON boolean (`readOnly`): `'true'` or `'false'`.
    Bool,
    /// STRING holding the JSON text of an object (`requestParameters`…).
    Json,
    /// STRUCT of these fields.
    Struct(&'static [Field]),
    /// ARRAY of STRUCTs of these fields (`resources`).
    Array(&'static [Field]),
    /// `map<string,string>` (`webIdFederationData.attributes`).
    Map,
}

/// A column or struct field: `key` is the record's key as CloudTrail writes it; the table's name for it is
/// the same in lower case (the JSON SerDe matches keys without regard to case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub key: &'static str,
    pub ty: Ty,
}

const fn f(key: &'static str, ty: Ty) -> Field {
    Field { key, ty }
}

use Ty::{Bool, Json, Text};

const ON_BEHALF_OF: &[Field] = &[f("userId", Text), f("identityStoreArn", Text)];
const SESSION_ATTRIBUTES: &[Field] = &[f("mfaAuthenticated", Text), f("creationDate", Text)];
const SESSION_ISSUER: &[Field] =
    &[f("type", Text), f("principalId", Text), f("arn", Text), f("accountId", Text), f("userName", Text)];
const WEB_ID_FEDERATION: &[Field] = &[f("federatedProvider", Text), f("attributes", Ty::Map)];
const SESSION_CONTEXT: &[Field] = &[
    f("attributes", Ty::Struct(SESSION_ATTRIBUTES)),
    f("sessionIssuer", Ty::Struct(SESSION_ISSUER)),
    f("ec2RoleDelivery", Text),
    f("webIdFederationData", Ty::Struct(WEB_ID_FEDERATION)),
];
const USER_IDENTITY: &[Field] = &[
    f("type", Text),
    f("principalId", Text),
    f("arn", Text),
    f("accountId", Text),
    f("invokedBy", Text),
    f("accessKeyId", Text),
    f("userName", Text),
    f("onBehalfOf", Ty::Struct(ON_BEHALF_OF)),
    f("sessionContext", Ty::Struct(SESSION_CONTEXT)),
];
const RESOURCE: &[Field] = &[f("ARN", Text), f("accountId", Text), f("type", Text)];
const ADDENDUM: &[Field] =
    &[f("reason", Text), f("updatedFields", Text), f("originalRequestID", Text), f("originalEventID", Text)];
const TLS_DETAILS: &[Field] = &[f("tlsVersion", Text), f("cipherSuite", Text), f("clientProvidedHostHeader", Text)];

/// The documented columns, in the documented order.
pub const COLUMNS: &[Field] = &[
    f("eventVersion", Text),
    f("userIdentity", Ty::Struct(USER_IDENTITY)),
    f("eventTime", Text),
    f("eventSource", Text),
    f("eventName", Text),
    f("awsRegion", Text),
    f("sourceIPAddress", Text),
    f("userAgent", Text),
    f("errorCode", Text),
    f("errorMessage", Text),
    f("requestParameters", Json),
    f("responseElements", Json),
    f("additionalEventData", Json),
    f("requestID", Text),
    f("eventID", Text),
    f("readOnly", Bool),
    f("resources", Ty::Array(RESOURCE)),
    f("eventType", Text),
    f("apiVersion", Text),
    f("recipientAccountId", Text),
    f("serviceEventDetails", Json),
    f("sharedEventID", Text),
    f("vpcEndpointId", Text),
    f("vpcEndpointAccountId", Text),
    f("eventCategory", Text),
    f("addendum", Ty::Struct(ADDENDUM)),
    f("sessionCredentialFromConsole", Text),
    f("edgeDeviceDetails", Json),
    f("tlsDetails", Ty::Struct(TLS_DETAILS)),
];

/// Regions enumerated for the `region` partition when `--regions` is not given: the public AWS
/// Regions. A region a trail never wrote to costs a listing of an empty prefix, nothing more.
pub const DEFAULT_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// The first day of the `timestamp` projection when `--from` is not given: CloudTrail's launch month,
/// so that no day of a trail falls outside the table.
pub fn default_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(2013, 11, 1).expect("a real date")
}

/// What `ctlookup athena table` is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSettings {
    /// `s3://BUCKET` or `s3://BUCKET/PREFIX`: where the trail delivers (the folder holding `AWSLogs/`).
    pub bucket: String,
    /// The organization ID of an organization trail (`o-…`): its files lie under `AWSLogs/o-ID/`.
    pub org: Option<String>,
    /// The table's name (`cloudtrail_logs`).
    pub name: String,
    pub database: Option<String>,
    /// Accounts to enumerate; none: the account is injected, so every query must name its accounts.
    pub accounts: Vec<String>,
    /// Regions to enumerate; none: [`DEFAULT_REGIONS`].
    pub regions: Vec<String>,
    /// First day of the `timestamp` projection; None: [`default_from`].
    pub from: Option<NaiveDate>,
}

impl Default for TableSettings {
    fn default() -> Self {
        TableSettings {
            bucket: String::new(),
            org: None,
            name: "cloudtrail_logs".to_owned(),
            database: None,
            accounts: Vec::new(),
            regions: Vec::new(),
            from: None,
        }
    }
}

/// The table's type text for a field, as the documentation writes it.
fn type_text(ty: Ty, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let fields = |fields: &[Field]| -> String {
        let inner: Vec<String> = fields
            .iter()
            .map(|field| format!("{pad}    {}: {}", field.key.to_ascii_lowercase(), type_text(field.ty, indent + 4)))
            .collect();
        format!("STRUCT<\n{}>", inner.join(",\n"))
    };
    match ty {
        Text | Bool | Json => "STRING".to_owned(),
        Ty::Map => "MAP<STRING,STRING>".to_owned(),
        Ty::Struct(inner) => fields(inner),
        Ty::Array(inner) => format!("ARRAY<{}>", fields(inner)),
    }
}

/// The `CREATE EXTERNAL TABLE` statement, or what is wrong with the settings.
pub fn create_table(settings: &TableSettings) -> Result<String, String> {
    let base = settings
        .bucket
        .strip_prefix("s3://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|rest| !rest.is_empty() && !rest.starts_with('/'))
        .ok_or_else(|| format!("--bucket '{}': expected s3://BUCKET or s3://BUCKET/PREFIX", settings.bucket))?;
    if base.contains(['\'', '\\', '$']) || base.chars().any(char::is_control) {
        return Err(format!(
            "--bucket '{}': quotes, backslashes, '$' and control characters are not allowed",
            settings.bucket
        ));
    }
    let base = base.strip_suffix("/AWSLogs").unwrap_or(base);
    let identifier = |what: &str, text: &str| {
        let ok = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(())
        } else {
            Err(format!("{what} '{text}': letters, digits and '_' only"))
        }
    };
    identifier("--name", &settings.name)?;
    if let Some(database) = &settings.database {
        identifier("--database", database)?;
    }
    let mut root = format!("s3://{base}/AWSLogs/");
    if let Some(org) = &settings.org {
        let ok = org.len() >= 12
            && org.len() <= 34
            && org.starts_with("o-")
            && org[2..].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !ok {
            return Err(format!("--org '{org}': expected an organization ID such as o-a1b2c3d4e5"));
        }
        root.push_str(org);
        root.push('/');
    }
    for account in &settings.accounts {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("--accounts: '{account}' is not a 12-digit account ID"));
        }
    }
    for region in &settings.regions {
        if region.is_empty() || !region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(format!("--regions: '{region}' is not a region name"));
        }
    }
    let regions: Vec<&str> = if settings.regions.is_empty() {
        DEFAULT_REGIONS.to_vec()
    } else {
        settings.regions.iter().map(String::as_str).collect()
    };
    let from = settings.from.unwrap_or_else(default_from).format("%Y/%m/%d");
    let name = match &settings.database {
        Some(database) => format!("{database}.{}", settings.name),
        None => settings.name.clone(),
    };
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|column| format!("    {} {}", column.key.to_ascii_lowercase(), type_text(column.ty, 4)))
        .collect();
    let account = if settings.accounts.is_empty() {
        "  'projection.account.type'='injected',\n".to_owned()
    } else {
        format!(
            "  'projection.account.type'='enum',\n  'projection.account.values'='{}',\n",
            settings.accounts.join(",")
        )
    };
    Ok(format!(
        "CREATE EXTERNAL TABLE {name}(\n{columns}\n  )\n\
         PARTITIONED BY (\n   `account` string,\n   `region` string,\n   `timestamp` string)\n\
         ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'\n\
         STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'\n\
         OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n\
         LOCATION\n  '{root}'\n\
         TBLPROPERTIES (\n  'projection.enabled'='true',\n\
         {account}  'projection.region.type'='enum',\n  'projection.region.values'='{regions}',\n\
         \x20 'projection.timestamp.format'='yyyy/MM/dd',\n  'projection.timestamp.interval'='1',\n\
         \x20 'projection.timestamp.interval.unit'='DAYS',\n  'projection.timestamp.range'='{from},NOW',\n\
         \x20 'projection.timestamp.type'='date',\n\
         \x20 'storage.location.template'='{root}${{account}}/CloudTrail/${{region}}/${{timestamp}}')\n",
        columns = columns.join(",\n"),
        regions = regions.join(","),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(bucket: &str) -> TableSettings {
        TableSettings { bucket: bucket.to_owned(), ..TableSettings::default() }
    }

    #[test]
    fn the_documented_columns_and_projection() {
        let ddl = create_table(&TableSettings {
            accounts: vec!["111122223333".into(), "444455556666".into()],
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            from: NaiveDate::from_ymd_opt(2024, 1, 2),
            database: Some("audit".into()),
            ..settings("s3://trail-bucket/prefix/")
        })
        .unwrap();
        assert!(ddl.starts_with("CREATE EXTERNAL TABLE audit.cloudtrail_logs(\n    eventversion STRING,\n    useridentity STRUCT<\n        type: STRING,"), "{ddl}");
        for needle in [
            "        sessioncontext: STRUCT<\n            attributes: STRUCT<\n                mfaauthenticated: STRING,\n                creationdate: STRING>,\n            sessionissuer: STRUCT<",
            "            webidfederationdata: STRUCT<\n                federatedprovider: STRING,\n                attributes: MAP<STRING,STRING>>>>,",
            "    requestparameters STRING,\n    responseelements STRING,\n    additionaleventdata STRING,",
            "    readonly STRING,\n    resources ARRAY<STRUCT<\n        arn: STRING,\n        accountid: STRING,\n        type: STRING>>,",
            "    tlsdetails STRUCT<\n        tlsversion: STRING,\n        ciphersuite: STRING,\n        clientprovidedhostheader: STRING>\n  )",
            "ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'\nSTORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'",
            "LOCATION\n  's3://trail-bucket/prefix/AWSLogs/'",
            "'projection.account.values'='111122223333,444455556666'",
            "'projection.region.values'='us-east-1,eu-west-1'",
            "'projection.timestamp.format'='yyyy/MM/dd'",
            "'projection.timestamp.range'='2024/01/02,NOW'",
            "'storage.location.template'='s3://trail-bucket/prefix/AWSLogs/${account}/CloudTrail/${region}/${timestamp}')",
        ] {
            assert!(ddl.contains(needle), "missing {needle:?} in\n{ddl}");
        }
    }

    #[test]
    fn organization_layout_and_defaults() {
        let ddl =
            create_table(&TableSettings { org: Some("o-a1b2c3d4e5".into()), ..settings("s3://org-trail") }).unwrap();
        assert!(ddl.contains("LOCATION\n  's3://org-trail/AWSLogs/o-a1b2c3d4e5/'"), "{ddl}");
        assert!(ddl.contains(
            "'storage.location.template'='s3://org-trail/AWSLogs/o-a1b2c3d4e5/${account}/CloudTrail/${region}/${timestamp}'"
        ));
        assert!(ddl.contains("'projection.account.type'='injected'"));
        assert!(ddl.contains("us-east-1,us-east-2,us-west-1,us-west-2'"));
        assert!(ddl.contains("'projection.timestamp.range'='2013/11/01,NOW'"));
        assert!(ddl.starts_with("CREATE EXTERNAL TABLE cloudtrail_logs("));
        // A bucket given down to AWSLogs/ means the same folder.
        let same =
            create_table(&TableSettings { org: Some("o-a1b2c3d4e5".into()), ..settings("s3://org-trail/AWSLogs/") });
        assert_eq!(same.unwrap(), ddl);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(create_table(&settings("trail-bucket")).unwrap_err().contains("s3://BUCKET"));
        assert!(create_table(&settings("s3://")).is_err());
        assert!(create_table(&settings("s3://b'x")).is_err());
        assert!(create_table(&TableSettings { org: Some("org-1".into()), ..settings("s3://b") }).is_err());
        assert!(create_table(&TableSettings { accounts: vec!["12".into()], ..settings("s3://b") }).is_err());
        assert!(create_table(&TableSettings { regions: vec!["US East".into()], ..settings("s3://b") }).is_err());
        assert!(create_table(&TableSettings { name: "x;drop".into(), ..settings("s3://b") }).is_err());
    }
}

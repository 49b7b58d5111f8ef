//! The eight lookup attributes LookupEvents understands, and the rules for their values.

use std::fmt;

use crate::event::Envelope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribute {
    EventId,
    AccessKeyId,
    ResourceName,
    Username,
    EventName,
    ResourceType,
    EventSource,
    ReadOnly,
}

impl Attribute {
    /// Most selective first: the planner pushes the first of these it finds (DESIGN §3).
    pub const BY_SELECTIVITY: [Attribute; 8] = [
        Attribute::EventId,
        Attribute::AccessKeyId,
        Attribute::ResourceName,
        Attribute::Username,
        Attribute::EventName,
        Attribute::ResourceType,
        Attribute::EventSource,
        Attribute::ReadOnly,
    ];

    /// The key as the API spells it.
    pub fn api_name(self) -> &'static str {
        match self {
            Attribute::EventId => "EventId",
            Attribute::AccessKeyId => "AccessKeyId",
            Attribute::ResourceName => "ResourceName",
            Attribute::Username => "Username",
            Attribute::EventName => "EventName",
            Attribute::ResourceType => "ResourceType",
            Attribute::EventSource => "EventSource",
            Attribute::ReadOnly => "ReadOnly",
        }
    }

    /// Reads a key in any case (`eventname`, `EVENTNAME`); an unknown key gets the nearest real one.
    pub fn parse(key: &str) -> Result<Attribute, String> {
        let key = key.trim();
        if let Some(attribute) = Self::BY_SELECTIVITY.into_iter().find(|a| a.api_name().eq_ignore_ascii_case(key)) {
            return Ok(attribute);
        }
        let names = Self::BY_SELECTIVITY.map(Attribute::api_name);
        let nearest = crate::suggest::nearest(key, names, 1)
            .first()
            .map(|name| format!(" (did you mean {name}?)"))
            .unwrap_or_default();
        Err(format!("unknown lookup attribute '{key}'{nearest}; valid keys: {}", names.join(", ")))
    }

    /// The envelope's single value for this attribute; resources have several (see [`Envelope::resources`]).
    pub fn field(self, envelope: &Envelope) -> Option<&str> {
        match self {
            Attribute::EventId => envelope.event_id.as_deref(),
            Attribute::AccessKeyId => envelope.access_key_id.as_deref(),
            Attribute::Username => envelope.username.as_deref(),
            Attribute::EventName => envelope.event_name.as_deref(),
            Attribute::EventSource => envelope.event_source.as_deref(),
            Attribute::ReadOnly => envelope.read_only.as_deref(),
            Attribute::ResourceName | Attribute::ResourceType => None,
        }
    }

    /// Whether the envelope has exactly this value (resources: any of them), as the API compares.
    pub fn matches(self, envelope: &Envelope, value: &str) -> bool {
        let is = |field: &Option<String>| field.as_deref() == Some(value);
        match self {
            Attribute::ReadOnly => envelope.read_only.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(value)),
            Attribute::ResourceName => envelope.resources().iter().any(|r| is(&r.resource_name)),
            Attribute::ResourceType => envelope.resources().iter().any(|r| is(&r.resource_type)),
            _ => self.field(envelope) == Some(value),
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_name())
    }
}

/// The API's limit on an attribute value, in its own units.
pub const MAX_VALUE_LENGTH: usize = 2000;

/// Checks a value against the API's length rules before anything is sent: 1 to 2000 units, where
/// `_`, space, `,` and newline count twice (the service counts them so; a value within 2000 characters
/// can still be refused).
pub fn check_value(attribute: Attribute, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("empty value for lookup attribute {attribute}"));
    }
    let units: usize = value.chars().map(|c| if matches!(c, '_' | ' ' | ',' | '\n') { 2 } else { 1 }).sum();
    if units > MAX_VALUE_LENGTH {
        return Err(format!(
            "value for lookup attribute {attribute} is too long: {units} units, the API allows {MAX_VALUE_LENGTH} \
             (`_`, space, `,` and newline count twice)"
        ));
    }
    Ok(())
}

/// Reads `--lookup-attribute` in either form: `KEY=VALUE` or the aws CLI's
/// `AttributeKey=KEY,AttributeValue=VALUE` (either order).
pub fn parse_lookup_attribute(arg: &str) -> Result<(Attribute, String), String> {
    let starts = |s: &str, prefix: &str| s.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix));
    let (key, value) = if starts(arg, "AttributeKey=") {
        let rest = &arg["AttributeKey=".len()..];
        let (key, value) = rest
            .split_once(',')
            .filter(|(_, v)| starts(v, "AttributeValue="))
            .ok_or_else(|| format!("--lookup-attribute '{arg}': expected AttributeKey=KEY,AttributeValue=VALUE"))?;
        (key, &value["AttributeValue=".len()..])
    } else if starts(arg, "AttributeValue=") {
        let lower = arg.to_ascii_lowercase();
        let at = lower
            .rfind(",attributekey=")
            .ok_or_else(|| format!("--lookup-attribute '{arg}': expected AttributeValue=VALUE,AttributeKey=KEY"))?;
        (&arg[at + ",AttributeKey=".len()..], &arg["AttributeValue=".len()..at])
    } else {
        arg.split_once('=')
            .ok_or_else(|| format!("--lookup-attribute '{arg}': expected KEY=VALUE, such as EventName=ConsoleLogin"))?
    };
    let attribute = Attribute::parse(key).map_err(|e| format!("--lookup-attribute: {e}"))?;
    check_value(attribute, value).map_err(|e| format!("--lookup-attribute: {e}"))?;
    Ok((attribute, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_and_any_case() {
        let want = Ok((Attribute::EventName, "ConsoleLogin".to_owned()));
        assert_eq!(parse_lookup_attribute("EventName=ConsoleLogin"), want);
        assert_eq!(parse_lookup_attribute("eventname=ConsoleLogin"), want);
        assert_eq!(parse_lookup_attribute("AttributeKey=EVENTNAME,AttributeValue=ConsoleLogin"), want);
        assert_eq!(parse_lookup_attribute("AttributeValue=ConsoleLogin,AttributeKey=EventName"), want);
        assert_eq!(parse_lookup_attribute("ResourceName=a=b,c"), Ok((Attribute::ResourceName, "a=b,c".to_owned())));
    }

    #[test]
    fn unknown_key_suggests() {
        let err = parse_lookup_attribute("EventNam=X").unwrap_err();
        assert!(err.contains("did you mean EventName?"), "{err}");
        let err = parse_lookup_attribute("UserName=X");
        assert_eq!(err, Ok((Attribute::Username, "X".to_owned())));
        assert!(parse_lookup_attribute("Colour=blue").unwrap_err().contains("valid keys"));
        assert!(parse_lookup_attribute("no-equals").is_err());
    }

    #[test]
    fn length_counts_some_characters_twice() {
        assert!(check_value(Attribute::ResourceName, &"a".repeat(2000)).is_ok());
        assert!(check_value(Attribute::ResourceName, &"a".repeat(2001)).is_err());
        assert!(check_value(Attribute::ResourceName, &"_".repeat(1000)).is_ok());
        let err = check_value(Attribute::ResourceName, &"_".repeat(1001)).unwrap_err();
        assert!(err.contains("2002 units"), "{err}");
        assert!(check_value(Attribute::ResourceName, &" ,".repeat(501)).is_err());
        assert!(check_value(Attribute::EventName, "").is_err());
    }
}

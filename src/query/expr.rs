//! The filter expression tree that `--where` and the shorthand options are lowered into.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use super::Attribute;
pub use crate::path::Path;

#[derive(Debug, Clone)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Pred(Predicate),
}

/// One test on one field.
#[derive(Debug, Clone)]
pub struct Predicate {
    pub target: Target,
    pub test: Test,
}

/// What a predicate looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A dotted path into the CloudTrail record (`userIdentity.sessionContext.sessionIssuer.userName`).
    Record(Path),
    /// A field of the Event history envelope, as the lookup shorthands (`--username`…) test it.
    Envelope(Attribute),
}

#[derive(Debug, Clone)]
pub enum Test {
    /// Present and not null.
    Exists,
    Compare(CompareOp, Literal),
    /// `=~` (`negate: false`) and `!~` (`negate: true`); unanchored.
    Regex {
        regex: Regex,
        negate: bool,
    },
    /// Substring test on a string field.
    Contains(String),
    In(Vec<Member>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// Quoted strings and bare words that are not numbers or keywords.
    String(String),
    /// A bare number; `text` is how it was written, for comparing with string fields.
    Number {
        value: f64,
        text: String,
    },
    Bool(bool),
}

/// An item of `in (…)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Member {
    Value(Literal),
    /// `10.0.0.0/8`, `2001:db8::/32`: matches IP-valued fields inside the network.
    Network(IpNet),
    /// `203.0.113.5`: matches that address however the field writes it.
    Address(IpAddr),
}

impl Expr {
    /// Joins expressions with AND, flattening nested ANDs; one expression stays itself.
    pub fn and(mut parts: Vec<Expr>) -> Expr {
        if parts.len() == 1 {
            return parts.pop().expect("one part");
        }
        let mut flat = Vec::with_capacity(parts.len());
        for part in parts {
            match part {
                Expr::And(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        Expr::And(flat)
    }

    /// Joins expressions with OR, flattening nested ORs; one expression stays itself.
    pub fn or(mut parts: Vec<Expr>) -> Expr {
        if parts.len() == 1 {
            return parts.pop().expect("one part");
        }
        let mut flat = Vec::with_capacity(parts.len());
        for part in parts {
            match part {
                Expr::Or(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        Expr::Or(flat)
    }

    /// The expression that matches everything (an empty AND).
    pub fn always() -> Expr {
        Expr::And(Vec::new())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Record(path) => path.fmt(f),
            Target::Envelope(attribute) => write!(f, "{attribute}"),
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        })
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "{s:?}"),
            Literal::Number { text, .. } => f.write_str(text),
            Literal::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Member::Value(literal) => literal.fmt(f),
            Member::Network(net) => net.fmt(f),
            Member::Address(ip) => ip.fmt(f),
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.test {
            Test::Exists => write!(f, "{} exists", self.target),
            Test::Compare(op, literal) => write!(f, "{} {op} {literal}", self.target),
            Test::Regex { regex, negate } => {
                write!(f, "{} {} {:?}", self.target, if *negate { "!~" } else { "=~" }, regex.as_str())
            }
            Test::Contains(s) => write!(f, "{} contains {s:?}", self.target),
            Test::In(members) => {
                let items: Vec<String> = members.iter().map(Member::to_string).collect();
                write!(f, "{} in ({})", self.target, items.join(", "))
            }
        }
    }
}

/// Prints an expression back in the `--where` language (for `-v`), parenthesised where needed.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, parts: &[Expr], word: &str| -> fmt::Result {
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, " {word} ")?;
                }
                let nested = matches!(part, Expr::And(p) | Expr::Or(p) if p.len() > 1);
                if nested {
                    write!(f, "({part})")?;
                } else {
                    part.fmt(f)?;
                }
            }
            Ok(())
        };
        match self {
            Expr::And(parts) if parts.is_empty() => f.write_str("true"),
            Expr::And(parts) => join(f, parts, "and"),
            Expr::Or(parts) => join(f, parts, "or"),
            Expr::Not(inner) => match inner.as_ref() {
                Expr::Pred(_) | Expr::Not(_) => write!(f, "not {inner}"),
                _ => write!(f, "not ({inner})"),
            },
            Expr::Pred(p) => p.fmt(f),
        }
    }
}

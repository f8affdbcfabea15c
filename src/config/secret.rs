//! Secrets (passwords, tokens): never written in the configuration file, only referenced.
//!
//! A [`Secret`] is `{ env = "NAME" }` or `{ file = "/run/secrets/name" }`; the value is read by
//! [`Secret::resolve`] when it is needed and is never kept in the settings, so `Debug`,
//! `Display`, `Serialize` and every error can only ever show where the value comes from.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// What an operator is told when a secret is written as a plain value.
pub const PLAIN_SECRET: &str =
    "secrets are not written in the file; use { env = \"NAME\" } or { file = \"/path\" }";

/// Where a password or token comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// An environment variable of the heatkpi process.
    Env(String),
    /// A file holding the value (a trailing newline is ignored), e.g. a Docker or systemd
    /// credential. A relative path is relative to heatkpi's working directory.
    File(PathBuf),
}

/// Why a secret could not be read. Names the variable or file, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The variable is not set.
    #[error("environment variable {0} is not set; export it in heatkpi's environment")]
    EnvMissing(String),
    /// The variable is not valid Unicode.
    #[error("environment variable {0} is not valid UTF-8")]
    EnvNotUnicode(String),
    /// The file cannot be read.
    #[error("cannot read secret file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The variable or file is empty.
    #[error("secret from {0} is empty")]
    Empty(String),
}

impl Secret {
    /// Read the value now.
    pub fn resolve(&self) -> Result<String, SecretError> {
        let value = match self {
            Secret::Env(name) => std::env::var(name).map_err(|e| match e {
                std::env::VarError::NotPresent => SecretError::EnvMissing(name.clone()),
                std::env::VarError::NotUnicode(_) => SecretError::EnvNotUnicode(name.clone()),
            })?,
            Secret::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?;
                text.trim_end_matches(['\n', '\r']).to_string()
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty(self.to_string()));
        }
        Ok(value)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Env(name) => write!(f, "environment variable {name}"),
            Secret::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({self})")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Secret::Env(name) => m.serialize_entry("env", name)?,
            Secret::File(path) => m.serialize_entry("file", path)?,
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{ env = \"NAME\" } or { file = \"/path\" }")
    }

    // The value itself must not appear in the error: no `invalid_type` with the string.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Secret, E> {
        Err(E::custom(PLAIN_SECRET))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(E::custom(PLAIN_SECRET))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(E::custom(PLAIN_SECRET))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        let mut found: Option<Secret> = None;
        while let Some(key) = map.next_key::<String>()? {
            let s = match key.as_str() {
                "env" => Secret::Env(map.next_value()?),
                "file" => Secret::File(map.next_value()?),
                other => {
                    return Err(de::Error::custom(format_args!(
                        "unknown key `{other}` in a secret; use {{ env = \"NAME\" }} or {{ file = \"/path\" }}"
                    )));
                }
            };
            if found.is_some() {
                return Err(de::Error::custom(
                    "a secret has one source; use either `env` or `file`, not both",
                ));
            }
            found = Some(s);
        }
        found.ok_or_else(|| de::Error::custom(PLAIN_SECRET))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct Conn {
        password: Secret,
    }

    const VALUE: &str = "s3cr3t-pa55-unit";

    fn shown(c: &Conn) -> String {
        format!(
            "{c:?} {} {} {}",
            c.password,
            toml::to_string(c).unwrap(),
            serde_json::to_string(c).unwrap()
        )
    }

    #[test]
    fn env_secret_resolves_and_is_never_shown() {
        let var = "HEATKPI_TEST_SECRET_ENV_UNIT";
        // SAFETY: this variable name is used by this test only; no other thread reads it.
        unsafe { std::env::set_var(var, VALUE) };
        let c: Conn = toml::from_str(&format!("password = {{ env = \"{var}\" }}")).unwrap();
        assert_eq!(c.password.resolve().unwrap(), VALUE);
        let out = shown(&c);
        assert!(!out.contains(VALUE), "{out}");
        assert!(out.contains(var), "{out}");
        unsafe { std::env::remove_var(var) };
        let e = c.password.resolve().unwrap_err();
        assert!(matches!(e, SecretError::EnvMissing(_)), "{e}");
    }

    #[test]
    fn file_secret_drops_the_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, format!("{VALUE}\n")).unwrap();
        let c = Conn {
            password: Secret::File(path.clone()),
        };
        assert_eq!(c.password.resolve().unwrap(), VALUE);
        assert!(!shown(&c).contains(VALUE));
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(c.password.resolve(), Err(SecretError::Empty(_))));
        let gone = Secret::File(dir.path().join("missing"));
        assert!(matches!(gone.resolve(), Err(SecretError::File { .. })));
    }

    #[test]
    fn plain_values_are_refused_without_echoing_them() {
        let e = toml::from_str::<Conn>(&format!("password = \"{VALUE}\"")).unwrap_err();
        assert_eq!(e.message(), PLAIN_SECRET);
        // (toml's own Display quotes the source line; `check-config` prints only the message.)
        assert!(!e.message().contains(VALUE));
        let e = toml::from_str::<Conn>("password = { env = \"A\", file = \"/b\" }").unwrap_err();
        assert!(e.message().contains("not both"), "{e}");
        let e = toml::from_str::<Conn>("password = { value = \"x\" }").unwrap_err();
        assert!(e.message().contains("unknown key `value`"), "{e}");
        let e = toml::from_str::<Conn>("password = {}").unwrap_err();
        assert_eq!(e.message(), PLAIN_SECRET);
    }
}

//! `bitatlas.toml` built section by section: stores, tenants, policies and server settings,
//! as the text an operator would write (so each test states only what it is about).

use std::path::{Path, PathBuf};

use bitatlas::config::ConfigFile;
use toml::{Table, Value};

/// A configuration under construction.
#[derive(Debug, Clone, Default)]
pub struct Config {
    doc: Table,
}

impl Config {
    /// An empty configuration (every section at its default).
    pub fn new() -> Config {
        Config::default()
    }

    /// `[stores.NAME]` on the local provider, in `path`, attested in `country`.
    pub fn local_store(self, name: &str, path: &Path, country: &str) -> Config {
        let section = format!("stores.{name}");
        self.set(&section, "provider", "local")
            .set(&section, "path", path.display().to_string())
            .set(&section, "country", country)
    }

    /// `[tenants.NAME]` whose home is `store`.
    pub fn tenant(self, name: &str, store: &str) -> Config {
        self.set(&format!("tenants.{name}"), "store", store)
    }

    /// `[tenants.NAME]` whose home is `store`, under the policy `policy`.
    pub fn tenant_with_policy(self, name: &str, store: &str, policy: &str) -> Config {
        self.tenant(name, store)
            .set(&format!("tenants.{name}"), "policy", policy)
    }

    /// `[tenants.NAME]` whose home is `store`, reached over HTTP with the token hashed as
    /// `token_hash` (the `sha256:...` line of `tokens create`).
    pub fn tenant_with_token(self, name: &str, store: &str, token_hash: &str) -> Config {
        self.tenant(name, store).set(
            &format!("tenants.{name}"),
            "tokens",
            vec![token_hash.to_owned()],
        )
    }

    /// `[policies.NAME] key = value`.
    pub fn policy(self, name: &str, key: &str, value: impl Into<Value>) -> Config {
        self.set(&format!("policies.{name}"), key, value)
    }

    /// `[server] key = value`.
    pub fn server(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("server", key, value)
    }

    /// `[http] key = value`.
    pub fn http(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("http", key, value)
    }

    /// `key = value` in the table at the dotted `section` path (each part a plain name).
    pub fn set(mut self, section: &str, key: &str, value: impl Into<Value>) -> Config {
        let mut table = &mut self.doc;
        for part in section.split('.') {
            table = table
                .entry(part.to_owned())
                .or_insert_with(|| Value::Table(Table::new()))
                .as_table_mut()
                .unwrap_or_else(|| panic!("{section}: {part} is not a table"));
        }
        table.insert(key.to_owned(), value.into());
        self
    }

    /// Adds the sections of a TOML `fragment` (e.g. a Garage store section), key by key.
    pub fn merge(mut self, fragment: &str) -> Config {
        let other: Table = toml::from_str(fragment)
            .unwrap_or_else(|e| panic!("TOML fragment does not parse: {e}\n{fragment}"));
        merge_into(&mut self.doc, other);
        self
    }

    /// The `bitatlas.toml` text.
    pub fn text(&self) -> String {
        toml::to_string(&self.doc).expect("configuration as TOML")
    }

    /// The configuration as the server parses it.
    pub fn file(&self) -> ConfigFile {
        toml::from_str(&self.text()).unwrap_or_else(|e| panic!("{e}\n{}", self.text()))
    }

    /// Writes the text to `path` and returns that path.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.text()).expect("write bitatlas.toml");
        path.to_owned()
    }

    /// Writes the text to `DIR/bitatlas.toml` and returns that path.
    pub fn write_in(&self, dir: &Path) -> PathBuf {
        self.write(&dir.join("bitatlas.toml"))
    }
}

fn merge_into(into: &mut Table, from: Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Table(mine)), Value::Table(theirs)) => merge_into(mine, theirs),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

//! What `nodetool import` and `sstableloader` need to reach a secured cluster, handed to
//! them through files and never on their command lines, where every user of the machine can
//! read them (`/proc/<pid>/cmdline`, `ps`):
//! - nodetool: a JMX login as `-u NAME -pwf FILE`, the file in nodetool's own
//!   `user password` form;
//! - sstableloader: TLS to the native port through `-f cassandra.yaml`, whose
//!   `client_encryption_options` name the PEM files (Cassandra's `PEMBasedSslContextFactory`:
//!   the trusted CAs, and the client certificate with its key in one file).
//!
//! sstableloader takes a password only as `-pw` on its command line, so cassbulk refuses it
//! with a password ([`ToolError::LoaderPassword`]) and names the routes that work.
//! The files live in a private temporary folder (0700, files 0600), removed when the load
//! ends, fails or is interrupted.

use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::cleanup::Registered;
use crate::exit::Classify;
use crate::tls::TlsOptions;

/// The environment variable that holds the JMX password (else `--jmx-password-file`).
pub const JMX_PASSWORD_ENV: &str = "CASSBULK_JMX_PASSWORD";

#[derive(Debug, Error)]
pub enum ToolError {
    #[error(
        "--stream sstableloader with --username: sstableloader reads a password only from its command line (-pw), where every user of this machine can read it; use --stream import (nodetool import on a node that sees --sstable-dir) or --via cql"
    )]
    LoaderPassword,
    #[error(
        "--stream sstableloader with --tls needs --tls-ca: sstableloader trusts only the CAs it is given, not the system's store"
    )]
    LoaderNoCa,
    #[error(
        "--stream sstableloader with --tls-insecure: sstableloader always checks the nodes' certificates; give --tls-ca instead"
    )]
    LoaderInsecure,
    #[error(
        "--tls-key {path}: sstableloader reads only unencrypted PKCS#8 keys (\"BEGIN PRIVATE KEY\"); convert it with `openssl pkcs8 -topk8 -nocrypt -in {path} -out client.pk8` and give that"
    )]
    LoaderKeyFormat { path: String },
    #[error(
        "--jmx-username {username}: no JMX password; put it in {JMX_PASSWORD_ENV} or in the first line of a file given with --jmx-password-file"
    )]
    NoJmxPassword { username: String },
    #[error("cannot read {path}: {source}; check the path and its permissions")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot write the settings for nodetool or sstableloader in {path}: {source}; check the temporary folder (TMPDIR)"
    )]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl Classify for ToolError {
    fn is_usage(&self) -> bool {
        !matches!(self, ToolError::Write { .. })
    }
}

/// A secret that never shows in `Debug` output (logs, panics).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The JMX login `nodetool import` uses, for nodes whose JMX requires authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JmxLogin {
    pub username: String,
    pub password: Secret,
}

impl JmxLogin {
    /// The login for `username`, its password from [`JMX_PASSWORD_ENV`] or the first line of
    /// `password_file`.
    pub fn resolve(username: &str, password_file: Option<&Path>) -> Result<JmxLogin, ToolError> {
        let password = match (std::env::var(JMX_PASSWORD_ENV), password_file) {
            (Ok(p), _) if !p.is_empty() => p,
            (_, Some(path)) => std::fs::read_to_string(path)
                .map_err(|source| ToolError::Read {
                    path: path.display().to_string(),
                    source,
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            _ => {
                return Err(ToolError::NoJmxPassword {
                    username: username.to_owned(),
                });
            }
        };
        Ok(JmxLogin {
            username: username.to_owned(),
            password: Secret(password),
        })
    }
}

/// sstableloader's TLS to the native port: the CAs to trust and the client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderTls {
    pub ca: PathBuf,
    /// The client certificate (with its chain) and its key.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl LoaderTls {
    /// What sstableloader can do of the `--tls` flags, or why it cannot.
    pub fn from_options(tls: &TlsOptions) -> Result<LoaderTls, ToolError> {
        if tls.insecure {
            return Err(ToolError::LoaderInsecure);
        }
        let ca = tls.ca.clone().ok_or(ToolError::LoaderNoCa)?;
        let client = match (&tls.cert, &tls.key) {
            (Some(cert), Some(key)) => {
                let text = std::fs::read_to_string(key).map_err(|source| ToolError::Read {
                    path: key.display().to_string(),
                    source,
                })?;
                if !is_pkcs8(&text) {
                    return Err(ToolError::LoaderKeyFormat {
                        path: key.display().to_string(),
                    });
                }
                Some((cert.clone(), key.clone()))
            }
            _ => None,
        };
        Ok(LoaderTls { ca, client })
    }
}

/// Whether a PEM file holds an unencrypted PKCS#8 key, the one kind Cassandra's PEM reader
/// takes without a password.
fn is_pkcs8(pem: &str) -> bool {
    pem.contains("-----BEGIN PRIVATE KEY-----")
}

/// The private folder of files one load hands its tools; removed when dropped.
pub struct ToolFiles {
    dir: tempfile::TempDir,
    _interrupt: Registered,
}

impl ToolFiles {
    pub fn new() -> Result<ToolFiles, ToolError> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("cassbulk-tools-");
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let dir = builder.tempdir().map_err(|source| ToolError::Write {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
        let interrupt = Registered::new(dir.path());
        Ok(ToolFiles {
            dir,
            _interrupt: interrupt,
        })
    }

    /// Writes `contents` to `name` in the folder, readable by this user only.
    fn write(&self, name: &str, contents: &[u8]) -> Result<PathBuf, ToolError> {
        let path = self.dir.path().join(name);
        let failed = |source| ToolError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(failed)?;
        file.write_all(contents).map_err(failed)?;
        Ok(path)
    }

    /// nodetool's arguments for a JMX login: `-u NAME -pwf FILE`.
    pub fn nodetool_login(&self, login: &JmxLogin) -> Result<Vec<String>, ToolError> {
        let line = format!("{} {}\n", login.username, login.password.expose());
        let file = self.write("nodetool.password", line.as_bytes())?;
        Ok(vec![
            "-u".into(),
            login.username.clone(),
            "-pwf".into(),
            file.display().to_string(),
        ])
    }

    /// sstableloader's arguments for TLS: `-f` and the configuration it reads.
    pub fn loader_tls(&self, tls: &LoaderTls) -> Result<Vec<String>, ToolError> {
        let mut yaml = String::from(
            "# Written by cassbulk for sstableloader -f; removed when the load ends.\n\
             client_encryption_options:\n  enabled: true\n  ssl_context_factory:\n    \
             class_name: org.apache.cassandra.security.PEMBasedSslContextFactory\n",
        );
        yaml += &format!("  truststore: {}\n", yaml_string(&tls.ca));
        if let Some((cert, key)) = &tls.client {
            let read = |path: &PathBuf| {
                std::fs::read(path).map_err(|source| ToolError::Read {
                    path: path.display().to_string(),
                    source,
                })
            };
            // Cassandra's PEM keystore is one file: the key, then the certificate chain.
            let mut pem = read(key)?;
            if !pem.ends_with(b"\n") {
                pem.push(b'\n');
            }
            pem.extend(read(cert)?);
            let keystore = self.write("client-keystore.pem", &pem)?;
            yaml += &format!("  keystore: {}\n", yaml_string(&keystore));
        }
        let conf = self.write("cassandra.yaml", yaml.as_bytes())?;
        Ok(vec!["-f".into(), conf.display().to_string()])
    }
}

/// A path as a YAML double-quoted scalar (JSON's escapes are YAML's).
fn yaml_string(path: &Path) -> String {
    serde_json::to_string(&path.display().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jmx_login_file_has_nodetools_user_password_form_and_only_its_owner_reads_it() {
        let files = ToolFiles::new().unwrap();
        let login = JmxLogin {
            username: "ops".into(),
            password: Secret("s3cret word".into()),
        };
        let args = files.nodetool_login(&login).unwrap();
        assert_eq!(&args[..3], ["-u", "ops", "-pwf"]);
        assert!(!args.iter().any(|a| a.contains("s3cret")));
        let path = PathBuf::from(&args[3]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ops s3cret word\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir = std::fs::metadata(path.parent().unwrap()).unwrap();
            assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        }
        let dir = path.parent().unwrap().to_owned();
        drop(files);
        assert!(!dir.exists(), "removed with the load");
    }

    #[test]
    fn sstableloaders_configuration_names_the_ca_and_one_pem_of_key_then_certificate() {
        let src = tempfile::tempdir().unwrap();
        let ca = src.path().join("ca \"x\".pem");
        let cert = src.path().join("client.pem");
        let key = src.path().join("client.key");
        std::fs::write(&ca, "CA").unwrap();
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nC\n").unwrap();
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nK").unwrap();
        let tls = LoaderTls::from_options(&TlsOptions {
            ca: Some(ca.clone()),
            cert: Some(cert),
            key: Some(key),
            ..TlsOptions::default()
        })
        .unwrap();
        let files = ToolFiles::new().unwrap();
        let args = files.loader_tls(&tls).unwrap();
        assert_eq!(args[0], "-f");
        let yaml = std::fs::read_to_string(&args[1]).unwrap();
        assert!(yaml.contains("PEMBasedSslContextFactory"), "{yaml}");
        assert!(yaml.contains("  enabled: true\n"), "{yaml}");
        // The quote in the CA's name is escaped, YAML's way.
        assert!(yaml.contains("ca \\\"x\\\".pem\"\n"), "{yaml}");
        let keystore = files.dir.path().join("client-keystore.pem");
        assert_eq!(
            std::fs::read_to_string(keystore).unwrap(),
            "-----BEGIN PRIVATE KEY-----\nK\n-----BEGIN CERTIFICATE-----\nC\n"
        );
    }

    #[test]
    fn sstableloader_refuses_what_it_cannot_do_with_tls_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let rsa = dir.path().join("rsa.key");
        std::fs::write(&rsa, "-----BEGIN RSA PRIVATE KEY-----\n").unwrap();
        let refused = |tls: TlsOptions| LoaderTls::from_options(&tls).unwrap_err().to_string();
        assert!(refused(TlsOptions::default()).contains("needs --tls-ca"));
        let insecure = TlsOptions {
            insecure: true,
            ..TlsOptions::default()
        };
        assert!(refused(insecure).contains("give --tls-ca instead"));
        let pkcs1 = TlsOptions {
            ca: Some(rsa.clone()),
            cert: Some(rsa.clone()),
            key: Some(rsa),
            ..TlsOptions::default()
        };
        assert!(refused(pkcs1).contains("openssl pkcs8 -topk8 -nocrypt"));
    }

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let login = JmxLogin {
            username: "ops".into(),
            password: Secret("hunter2".into()),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
    }
}

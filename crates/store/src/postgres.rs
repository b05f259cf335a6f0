//! The PostgreSQL backend (`--db postgres://…`), for several control-plane
//! replicas sharing one database. Every write transaction first takes one
//! transaction-scoped advisory lock, so writers on any replica are
//! serialized: two can never read the same audit head (the chain cannot
//! fork) nor assign the same version. Under that lock, a write of the
//! elected evaluator also checks that its replica still leads
//! ([`crate::election`]). Reads take no lock. A writer waits
//! for the lock at most as long as the connect timeout, and a session that
//! sits idle inside a transaction (holding the lock) is ended by the
//! server after [`IDLE_IN_TRANSACTION`], so one stuck replica cannot stop
//! every write for long.
//!
//! TLS is libpq's URL parameters: `sslmode=require` (encrypted, the
//! certificate not checked), `verify-ca`, `verify-full` (the certificate
//! signed by a trusted CA and, for `verify-full`, issued for the host), and
//! `sslrootcert=FILE` for the CA. Trusted CAs are the system's roots plus
//! `sslrootcert` (rustls with `ring`; unlike libpq, `sslrootcert` adds to
//! the system's roots rather than replacing them). The default, `prefer`,
//! encrypts when the server offers TLS but checks nothing: give
//! `verify-full` whenever the database is not on the same host.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// How long opening waits for the server before giving up with an error,
/// and how long a write waits for another writer's transaction.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server lets a session sit idle inside a transaction.
pub const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(60);

/// The advisory lock key writers hold (`"seawall"` in ASCII, as a number;
/// `pg_locks` shows it as `classid` 7562593 / `objid` 2002873452 while a
/// write runs).
pub const WRITE_LOCK: i64 = 0x0073_6561_7761_6c6c;

/// Connections in the pool.
const POOL_SIZE: u32 = 8;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    const BACKEND: &'static str = "postgres";

    /// Connect to `url` and apply the migrations, giving up after
    /// [`CONNECT_TIMEOUT`] if the server does not answer.
    pub async fn open(url: &str) -> crate::Result<Self> {
        Self::open_with_timeout(url, CONNECT_TIMEOUT).await
    }

    /// [`PgStore::open`] with another timeout (for connecting, and for a
    /// write waiting for another writer).
    pub async fn open_with_timeout(url: &str, timeout: Duration) -> crate::Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|e| crate::StoreError::Spec {
            spec: redact(url),
            reason: format!(
                "not a PostgreSQL URL ({e}); give postgres://USER:PASSWORD@HOST:PORT/DB"
            ),
        })?;
        let options = options.options([
            ("lock_timeout", format!("{}ms", timeout.as_millis().max(1))),
            (
                "idle_in_transaction_session_timeout",
                format!("{}ms", IDLE_IN_TRANSACTION.as_millis()),
            ),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(timeout)
            .connect_with(options)
            .await
            .map_err(|e| crate::StoreError::Connect {
                target: redact(url),
                reason: match e {
                    sqlx::Error::PoolTimedOut => format!("no answer within {timeout:?}"),
                    other => tls_hint(other.to_string()),
                },
            })?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for tests and tools that read the tables directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Close every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> crate::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        crate::election::check_fence(&mut tx).await?;
        Ok(tx)
    }
}

/// A connection error, with what to check when it is about TLS (sqlx
/// reports certificate failures as I/O errors).
fn tls_hint(message: String) -> String {
    let lower = message.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") {
        format!(
            "TLS: {message}; check sslmode, and that sslrootcert names the CA that signed \
             the server's certificate, issued for the host in the URL"
        )
    } else {
        message
    }
}

/// `url` without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

crate::sql::sql_store!(PgStore, sqlx::Postgres);

#[cfg(test)]
mod tests {
    use crate::testing::{TempDir, TempPostgres};

    /// A CA, and a certificate for `localhost` it signed:
    /// (CA PEM, server certificate PEM, server key PEM).
    fn certificates(ca_name: &str) -> (String, String, String) {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca = rcgen::CertificateParams::new(Vec::new()).expect("params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, ca_name);
        let issuer = rcgen::Issuer::new(ca.clone(), &ca_key);
        let ca_cert = ca.self_signed(&ca_key).expect("CA");
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        (ca_cert.pem(), cert.pem(), key.serialize_pem())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verify_full_connects_over_tls_and_refuses_another_ca() {
        let (ca, cert, key) = certificates("seawall test CA");
        let (other_ca, _, _) = certificates("another CA");
        let pg = TempPostgres::start_tls(&cert, &key).expect("PostgreSQL with ssl=on");
        let dir = TempDir::new().expect("dir");
        let ca_file = dir.path().join("ca.pem");
        let other_file = dir.path().join("other-ca.pem");
        std::fs::write(&ca_file, &ca).expect("write");
        std::fs::write(&other_file, &other_ca).expect("write");
        let name = pg.create_database().expect("database");
        // postgres://postgres@localhost:PORT/NAME?host=…
        let name = name
            .split('/')
            .nth(3)
            .and_then(|n| n.split('?').next())
            .expect("name")
            .to_owned();
        let base = pg.tcp_url(&name).expect("a TCP port");

        // verify-full with the right CA: migrations run, and the session is
        // encrypted.
        let url = format!(
            "{base}?sslmode=verify-full&sslrootcert={}",
            ca_file.display()
        );
        let store = super::PgStore::open_with_timeout(&url, std::time::Duration::from_secs(10))
            .await
            .expect("verify-full with the CA that signed the certificate");
        let ssl: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(store.pool())
                .await
                .expect("pg_stat_ssl");
        assert!(ssl, "the session is encrypted");
        store.close().await;

        // require: encrypted without checking the certificate.
        let url = format!("{base}?sslmode=require");
        let store = super::PgStore::open_with_timeout(&url, std::time::Duration::from_secs(10))
            .await
            .expect("require");
        store.close().await;

        // verify-full with another CA: refused, and the message says what
        // to check.
        let url = format!(
            "{base}?sslmode=verify-full&sslrootcert={}",
            other_file.display()
        );
        let err = super::PgStore::open_with_timeout(&url, std::time::Duration::from_secs(10))
            .await
            .expect_err("a certificate from another CA");
        let text = err.to_string();
        assert!(
            text.contains("TLS") && text.contains("sslrootcert"),
            "{text}"
        );

        // verify-full to an address the certificate is not for (the same
        // server, reached as 127.0.0.1); require takes it.
        let by_address = base.replace("localhost", "127.0.0.1");
        let url = format!(
            "{by_address}?sslmode=verify-full&sslrootcert={}",
            ca_file.display()
        );
        let err = super::PgStore::open_with_timeout(&url, std::time::Duration::from_secs(10))
            .await
            .expect_err("a host the certificate is not for");
        assert!(err.to_string().contains("TLS"), "{err}");
        let url = format!("{by_address}?sslmode=require");
        super::PgStore::open_with_timeout(&url, std::time::Duration::from_secs(10))
            .await
            .expect("require does not check the name")
            .close()
            .await;
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://sea:s3cr@t@db:5432/x?sslmode=require"),
            "postgres://sea:***@db:5432/x?sslmode=require"
        );
        assert_eq!(super::redact("postgres://db/x"), "postgres://db/x");
    }
}

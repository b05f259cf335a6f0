//! Throw-away databases for tests (cargo feature `testing`): a temporary
//! directory for SQLite files and a private PostgreSQL server started from
//! Debian's `postgresql` package, so the behaviour suite (and the server's
//! tests) run against the real thing on every machine CI uses.
//!
//! [`TempPostgres::start`] copies a cluster made once by `initdb` (kept in
//! the temporary directory, keyed by PostgreSQL's version, with three empty
//! databases made ahead) and starts `postgres` on it, listening on a Unix
//! socket in its own directory only — no TCP port, so parallel test
//! processes (nextest runs each test in its own) cannot collide. Measured
//! on the shared 2-core machine at load 5: start 0.9 s, first database
//! 0 s, open with migrations 0.1 s, stop 0.2 s; making each server with
//! `initdb` and `CREATE DATABASE` instead cost 2.6–4 s. Durability is off
//! (`fsync=off`): the data is thrown away on drop. As root the server runs
//! as the `postgres` user (PostgreSQL refuses to run as root). Servers of
//! test processes that were killed are stopped and deleted by the next
//! `start`.
//!
//! [`TempPostgres::start_tls`] starts one that also listens on a TCP
//! port of 127.0.0.1 with `ssl=on` and the certificate and key it is
//! given (tests make them with rcgen), for connections with
//! `sslmode=require` or `verify-full` ([`TempPostgres::tcp_url`]).
//!
//! When PostgreSQL is not installed, `start` fails with a message saying
//! to `apt-get install postgresql`; tests never skip silently.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a throw-away database could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    /// PostgreSQL's server programs are not installed.
    #[error(
        "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or \
         $SEAWALL_PG_BIN): run `apt-get install postgresql`, or set SEAWALL_PG_BIN to the \
         directory holding initdb, pg_ctl and psql"
    )]
    NotInstalled,
    /// A file system operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A PostgreSQL program failed.
    #[error("{program} failed ({status}): {stderr}")]
    Command {
        /// The program and its arguments.
        program: String,
        /// Its exit status.
        status: String,
        /// What it wrote to stderr (and the server log, for `pg_ctl start`).
        stderr: String,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> TestingError {
    let what = what.into();
    move |source| TestingError::Io { what, source }
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A name unique to this process and call.
fn unique(prefix: &str) -> String {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A directory removed (with everything in it) on drop (tempfile's).
#[derive(Debug)]
pub struct TempDir {
    dir: tempfile::TempDir,
}

impl TempDir {
    /// Create a fresh, empty directory under the system's temporary
    /// directory.
    pub fn new() -> Result<TempDir, TestingError> {
        let dir = tempfile::Builder::new()
            .prefix("seawall-test-")
            .tempdir()
            .map_err(io_error("create a temporary directory"))?;
        Ok(TempDir { dir })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A private PostgreSQL server, stopped and deleted on drop.
#[derive(Debug)]
pub struct TempPostgres {
    bin: PathBuf,
    data: PathBuf,
    runas: Option<String>,
    databases: AtomicU64,
    /// The TCP port on 127.0.0.1 ([`TempPostgres::start_tls`] only).
    port: Option<u16>,
}

/// Databases made in the template, handed out by the first
/// [`TempPostgres::create_database`] calls without a `CREATE DATABASE`
/// (which costs ~1 s on a loaded machine: it copies and checkpoints).
const PREMADE: u64 = 3;

impl TempPostgres {
    /// Start a server (see the module documentation).
    pub fn start() -> Result<TempPostgres, TestingError> {
        Self::start_inner(None)
    }

    /// Start a server that also accepts TLS connections on a TCP port of
    /// 127.0.0.1 (`ssl=on`), with this PEM certificate chain and key. Its
    /// Unix socket still takes plain connections ([`TempPostgres::url`]).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Result<TempPostgres, TestingError> {
        Self::start_inner(Some((cert_pem, key_pem)))
    }

    fn start_inner(tls: Option<(&str, &str)>) -> Result<TempPostgres, TestingError> {
        let bin = find_bin()?;
        let runas = if is_root() {
            Some("postgres".to_owned())
        } else {
            None
        };
        sweep_stale(&bin, runas.as_deref());
        let template = {
            // Threads of one test process (`cargo test`) make it once;
            // processes (nextest) may race, which the rename settles.
            static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _one_at_a_time = MAKING.lock().unwrap_or_else(|e| e.into_inner());
            template(&bin, runas.as_deref())?
        };
        let data = std::env::temp_dir().join(unique("seawall-pg"));
        // `cp -a` keeps the owner (postgres, when we are root) and modes.
        run(Command::new("cp").arg("-a").arg(&template).arg(&data))?;
        let mut server = TempPostgres {
            bin,
            data,
            runas,
            databases: AtomicU64::new(0),
            port: None,
        };
        // On failure `server` drops: whatever started is stopped, the copy
        // deleted.
        let Some((cert, key)) = tls else {
            pg_start(&server.bin, server.runas.as_deref(), &server.data, None)?;
            return Ok(server);
        };
        server.write_tls_files(cert, key)?;
        // A free port: bound and released here; another process taking it
        // in between makes the start fail, so try a few.
        let mut last = None;
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(io_error("find a free port"))?
                .port();
            match pg_start(
                &server.bin,
                server.runas.as_deref(),
                &server.data,
                Some(port),
            ) {
                Ok(()) => {
                    server.port = Some(port);
                    return Ok(server);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(TestingError::NotInstalled))
    }

    /// `server.crt` and `server.key` in the data directory, owned by the
    /// server's user, the key readable by it only (PostgreSQL checks).
    fn write_tls_files(&self, cert: &str, key: &str) -> Result<(), TestingError> {
        for (name, text) in [("server.crt", cert), ("server.key", key)] {
            let path = self.data.join(name);
            std::fs::write(&path, text).map_err(io_error(format!("write {}", path.display())))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io_error(format!("chmod {}", path.display())))?;
            }
            if let Some(user) = &self.runas {
                run(Command::new("chown").arg(user).arg(&path))?;
            }
        }
        Ok(())
    }

    /// The TCP URL of database `name` (`postgres://postgres@localhost:PORT/name`),
    /// for a server from [`TempPostgres::start_tls`]; add `?sslmode=…`.
    pub fn tcp_url(&self, name: &str) -> Option<String> {
        self.port
            .map(|port| format!("postgres://postgres@localhost:{port}/{name}"))
    }

    /// A new, empty database on this server: its URL
    /// (`postgres://postgres@localhost/t_N?host=<socket dir>`).
    pub fn create_database(&self) -> Result<String, TestingError> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("t_{n}");
        if n > PREMADE {
            self.psql(&format!("CREATE DATABASE {name}"))?;
        }
        Ok(self.url(&name))
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "postgres://postgres@localhost{port}/{name}?host={}",
            self.data.display()
        )
    }

    /// Run SQL with `psql` in the `postgres` database (as the superuser);
    /// its output, unaligned.
    pub fn psql(&self, sql: &str) -> Result<String, TestingError> {
        psql(&self.bin, &self.data, self.port, sql)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        pg_stop(&self.bin, self.runas.as_deref(), &self.data, "immediate");
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Start `postgres` on `data`, listening on a socket in `data` only (and
/// with `tls_port`, on that port of 127.0.0.1 with `ssl=on` and the
/// data directory's `server.crt` / `server.key`), and wait until it
/// accepts connections.
fn pg_start(
    bin: &Path,
    runas: Option<&str>,
    data: &Path,
    tls_port: Option<u16>,
) -> Result<(), TestingError> {
    let listen = match tls_port {
        None => "-c listen_addresses=''".to_owned(),
        Some(port) => format!(
            "-c listen_addresses=127.0.0.1 -p {port} -c ssl=on \
             -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        ),
    };
    let options = format!(
        "{listen} -k {} -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c shared_buffers=16MB -c max_connections=60",
        data.display()
    );
    let log = data.join("server.log");
    let mut start = as_user(runas, &bin.join("pg_ctl"));
    start
        .arg("-D")
        .arg(data)
        .arg("-l")
        .arg(&log)
        .arg("-o")
        .arg(&options)
        .args(["-w", "-t", "60", "-s", "start"]);
    match run(&mut start) {
        Err(TestingError::Command {
            program,
            status,
            stderr,
        }) => {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            Err(TestingError::Command {
                program,
                status,
                stderr: format!("{stderr}\nserver log:\n{log}"),
            })
        }
        other => other.map(|_| ()),
    }
}

/// Stop the server on `data` (`mode`: `immediate` or `fast`), if any.
fn pg_stop(bin: &Path, runas: Option<&str>, data: &Path, mode: &str) {
    if !data.join("postmaster.pid").is_file() {
        return;
    }
    let mut stop = as_user(runas, &bin.join("pg_ctl"));
    stop.arg("-D")
        .arg(data)
        .args(["-m", mode, "-w", "-s", "stop"]);
    let _ = run(&mut stop);
}

fn psql(
    bin: &Path,
    socket_dir: &Path,
    port: Option<u16>,
    sql: &str,
) -> Result<String, TestingError> {
    let mut command = Command::new(bin.join("psql"));
    command.arg("-h").arg(socket_dir);
    if let Some(port) = port {
        command.arg("-p").arg(port.to_string());
    }
    let out = run(command
        .args(["-U", "postgres", "-d", "postgres", "-X", "-q", "-At"])
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql]))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stop and delete the servers of test processes that died without
/// dropping their `TempPostgres` (killed by a timeout, say): their data
/// directories are named after a process id that no longer runs.
fn sweep_stale(bin: &Path, runas: Option<&str>) {
    if !Path::new("/proc/self").exists() {
        return; // no way to tell which processes run
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("seawall-pg-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let data = entry.path();
        pg_stop(bin, runas, &data, "immediate");
        let _ = std::fs::remove_dir_all(&data);
    }
}

/// The directory holding `initdb`, `pg_ctl` and `psql`: `$SEAWALL_PG_BIN`,
/// or the newest `/usr/lib/postgresql/<version>/bin` (Debian's layout).
fn find_bin() -> Result<PathBuf, TestingError> {
    find_bin_in(
        std::env::var_os("SEAWALL_PG_BIN").map(PathBuf::from),
        Path::new("/usr/lib/postgresql"),
    )
}

fn find_bin_in(given: Option<PathBuf>, debian: &Path) -> Result<PathBuf, TestingError> {
    if let Some(dir) = given {
        return if dir.join("initdb").is_file() {
            Ok(dir)
        } else {
            Err(TestingError::NotInstalled)
        };
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(debian)
        .map(|dirs| {
            dirs.filter_map(|d| d.ok())
                .filter_map(|d| {
                    let version = d.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = d.path().join("bin");
                    bin.join("initdb").is_file().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or(TestingError::NotInstalled)
}

fn is_root() -> bool {
    // The effective uid without libc: /proc/self/status's "Uid:" line.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn as_user(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn run(command: &mut Command) -> Result<Output, TestingError> {
    let program = format!("{command:?}");
    let out = command
        .output()
        .map_err(io_error(format!("run {program}")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(TestingError::Command {
            program,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// The `initdb`-made cluster every server copies, made once per
/// PostgreSQL version and user: built beside its final place and renamed
/// into it, so concurrent test processes never see half of one.
fn template(bin: &Path, runas: Option<&str>) -> Result<PathBuf, TestingError> {
    let version = bin
        .parent()
        .and_then(|v| v.file_name())
        .and_then(|v| v.to_str())
        .unwrap_or("pg");
    let owner = runas.unwrap_or("self");
    // `v2`: the initdb options and databases below; change it when they change.
    let path = std::env::temp_dir().join(format!("seawall-pg-template-v2-{version}-{owner}"));
    if path.join("PG_VERSION").is_file() {
        return Ok(path);
    }
    let building = std::env::temp_dir().join(unique("seawall-pg-initdb"));
    std::fs::create_dir_all(&building)
        .map_err(io_error(format!("create {}", building.display())))?;
    if let Some(user) = runas {
        run(Command::new("chown").arg(user).arg(&building))?;
    }
    let mut initdb = as_user(runas, &bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&building)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "-N"])
        // A linguistic default collation (ICU, `alpha` before `Zeta`), as on
        // most production servers: the schema's "C" columns must not
        // depend on it, and the suite checks that they do not.
        .args([
            "--locale=C.UTF-8",
            "--locale-provider=icu",
            "--icu-locale=en-US",
        ]);
    let made = run(&mut initdb).and_then(|_| {
        pg_start(bin, runas, &building, None)?;
        let created = (1..=PREMADE).try_for_each(|n| {
            psql(bin, &building, None, &format!("CREATE DATABASE t_{n}")).map(|_| ())
        });
        // A clean stop: copies start without crash recovery.
        pg_stop(bin, runas, &building, "fast");
        created
    });
    if let Err(e) = made {
        pg_stop(bin, runas, &building, "immediate");
        let _ = std::fs::remove_dir_all(&building);
        return Err(e);
    }
    if std::fs::rename(&building, &path).is_err() {
        // Another process got there first; use its template.
        let _ = std::fs::remove_dir_all(&building);
    }
    if path.join("PG_VERSION").is_file() {
        Ok(path)
    } else {
        Err(TestingError::Io {
            what: format!("make the template cluster {}", path.display()),
            source: io::Error::other("initdb's directory could not be moved into place"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_postgresql_says_what_to_install() {
        let dir = TempDir::new().expect("temp dir");
        let err = find_bin_in(None, &dir.path().join("none")).expect_err("nothing there");
        assert!(matches!(err, TestingError::NotInstalled));
        assert!(
            err.to_string().contains("apt-get install postgresql"),
            "{err}"
        );
        let given = find_bin_in(Some(dir.path().to_owned()), Path::new("/nonexistent"));
        assert!(matches!(given, Err(TestingError::NotInstalled)));
    }

    #[test]
    fn the_newest_debian_version_is_used() {
        let dir = TempDir::new().expect("temp dir");
        for version in ["9", "15", "13", "not-a-version"] {
            let bin = dir.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(bin.join("initdb"), b"").expect("write");
        }
        // 16 has no initdb: not an installed server.
        std::fs::create_dir_all(dir.path().join("16").join("bin")).expect("mkdir");
        let bin = find_bin_in(None, dir.path()).expect("found");
        assert_eq!(bin, dir.path().join("15").join("bin"));
    }
}

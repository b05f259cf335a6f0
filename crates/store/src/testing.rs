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
    #[error("{what}: {source}")]
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

/// A directory removed (with everything in it) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create a fresh, empty directory under the system's temporary
    /// directory.
    pub fn new() -> Result<TempDir, TestingError> {
        let path = std::env::temp_dir().join(unique("seawall-test"));
        std::fs::create_dir_all(&path).map_err(io_error(format!("create {}", path.display())))?;
        Ok(TempDir { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A private PostgreSQL server, stopped and deleted on drop.
#[derive(Debug)]
pub struct TempPostgres {
    bin: PathBuf,
    data: PathBuf,
    runas: Option<String>,
    databases: AtomicU64,
}

/// Databases made in the template, handed out by the first
/// [`TempPostgres::create_database`] calls without a `CREATE DATABASE`
/// (which costs ~1 s on a loaded machine: it copies and checkpoints).
const PREMADE: u64 = 3;

impl TempPostgres {
    /// Start a server (see the module documentation).
    pub fn start() -> Result<TempPostgres, TestingError> {
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
        let server = TempPostgres {
            bin,
            data,
            runas,
            databases: AtomicU64::new(0),
        };
        // On failure `server` drops: whatever started is stopped, the copy
        // deleted.
        pg_start(&server.bin, server.runas.as_deref(), &server.data)?;
        Ok(server)
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
        format!(
            "postgres://postgres@localhost/{name}?host={}",
            self.data.display()
        )
    }

    /// Run SQL with `psql` in the `postgres` database (as the superuser);
    /// its output, unaligned.
    pub fn psql(&self, sql: &str) -> Result<String, TestingError> {
        psql(&self.bin, &self.data, sql)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        pg_stop(&self.bin, self.runas.as_deref(), &self.data, "immediate");
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Start `postgres` on `data`, listening on a socket in `data` only, and
/// wait until it accepts connections.
fn pg_start(bin: &Path, runas: Option<&str>, data: &Path) -> Result<(), TestingError> {
    let options = format!(
        "-c listen_addresses='' -k {} -c fsync=off -c synchronous_commit=off \
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

fn psql(bin: &Path, socket_dir: &Path, sql: &str) -> Result<String, TestingError> {
    let out = run(Command::new(bin.join("psql"))
        .arg("-h")
        .arg(socket_dir)
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
        pg_start(bin, runas, &building)?;
        let created = (1..=PREMADE)
            .try_for_each(|n| psql(bin, &building, &format!("CREATE DATABASE t_{n}")).map(|_| ()));
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

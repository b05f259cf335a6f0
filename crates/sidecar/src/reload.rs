//! The rules file: read and validated at start, then polled. Every
//! `reload_interval` (1 s by default) the file is read and hashed; a new
//! hash is parsed and swapped into the guard (which keeps the state of
//! unchanged rules). A bad file is logged once, counted, shown by
//! `GET /status`, and the last good rules stay in force.
//!
//! Why polling and not file notifications: reading a small file once a
//! second costs microseconds, needs no extra dependency, and sees every way
//! a file gets replaced (editors' rename-on-save, Kubernetes ConfigMap
//! symlink swaps, bind mounts) where inotify watches tend to miss some.

use std::hash::Hasher;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use seawall_guard::RuleSet;

use crate::SidecarError;
use crate::proxy::Shared;
pub(crate) use crate::status::RulesStatus;
use crate::status::unix_now;

/// FNV-1a, 64 bits: a stable content hash (no key, same on every run).
#[derive(Debug)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(bytes);
    h.finish()
}

/// Parses a rule document (JSON when the file name ends in `.json`, else
/// YAML) and checks what the sidecar needs of it: a `gray` rule needs a gray
/// upstream.
pub(crate) fn parse(path: &Path, bytes: &[u8], has_gray: bool) -> Result<RuleSet, SidecarError> {
    let invalid = |problem| SidecarError::RulesInvalid {
        path: path.to_owned(),
        problem,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        invalid(seawall_guard::GuardError::Syntax(format!(
            "not UTF-8 text ({e})"
        )))
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let rules = if is_json {
        RuleSet::from_json(text)
    } else {
        RuleSet::from_yaml(text)
    }
    .map_err(invalid)?;
    if let Some(g) = rules.gray.as_ref().filter(|_| !has_gray) {
        return Err(invalid(seawall_guard::GuardError::Invalid {
            rule: g.id.clone(),
            message: "gray routing needs a gray upstream: start the sidecar with \
                      --gray-upstream URL, or remove `gray`"
                .into(),
        }));
    }
    Ok(rules)
}

/// Reads and validates the rules file; returns the rules and the content hash.
pub(crate) async fn load(path: &Path, has_gray: bool) -> Result<(RuleSet, u64), SidecarError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| SidecarError::RulesRead {
            path: path.to_owned(),
            source,
        })?;
    let rules = parse(path, &bytes, has_gray)?;
    Ok((rules, hash(&bytes)))
}

/// Replaces the file at `path` with `bytes` atomically and durably: a
/// temporary file in the same directory (same file system, so the rename
/// is atomic), written and fsynced, renamed over `path`, then the directory
/// fsynced so the rename itself survives a crash. A reader sees the old
/// document or the new one, never a part; after a crash the file is one or
/// the other; on any failure the old file is untouched and the temporary
/// one removed.
pub(crate) async fn write_atomically(path: &Path, bytes: Vec<u8>) -> Result<(), String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || write_atomically_blocking(&path, &bytes))
        .await
        .map_err(|e| format!("writing the rules file stopped: {e}"))?
}

fn write_atomically_blocking(path: &Path, bytes: &[u8]) -> Result<(), String> {
    write_atomically_with(path, bytes, std::io::Write::write_all)
}

/// [`write_atomically`] with the writing step given (tests make it fail).
fn write_atomically_with(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "rules".into(), |n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".seawall-tmp")
        .tempfile_in(dir)
        .map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;
    let tmp_path = tmp.path().to_owned();
    let cannot =
        |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", tmp_path.display());
    // Keep the old file's mode (a temporary file is created 0600).
    let mode = std::fs::metadata(path).map(|m| m.permissions()).ok();
    #[cfg(unix)]
    let mode = mode.or_else(|| {
        use std::os::unix::fs::PermissionsExt;
        Some(std::fs::Permissions::from_mode(0o644))
    });
    if let Some(mode) = mode {
        tmp.as_file()
            .set_permissions(mode)
            .map_err(|e| cannot("set the mode of", e))?;
    }
    write(tmp.as_file_mut(), bytes).map_err(|e| cannot("write", e))?;
    tmp.as_file().sync_all().map_err(|e| cannot("fsync", e))?;
    // Dropping a temporary file that was not persisted removes it.
    tmp.persist(path)
        .map_err(|e| format!("cannot replace {}: {}", path.display(), e.error))?;
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot fsync the directory {}: {e}", dir.display()))?;
    Ok(())
}

/// What one poll did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Polled {
    /// The file is the one in force (or the bad one already reported).
    Unchanged,
    /// A new document is in force.
    Swapped,
    /// The file could not be used; the old rules stay.
    Rejected,
}

/// Reads the rules file once and swaps it in if it changed.
pub(crate) async fn poll(shared: &Shared) -> Polled {
    let path = shared.rules_path.clone();
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(source) => {
            let e = SidecarError::RulesRead { path, source };
            return reject(shared, None, &e);
        }
    };
    let h = hash(&bytes);
    {
        let mut st = shared.status.lock().unwrap_or_else(|e| e.into_inner());
        if h == st.in_force_hash {
            if st.last_error.take().is_some() {
                st.last_error_at = None;
                st.bad_hash = None;
                shared.metrics.rules_file_ok.set(1);
                tracing::info!(
                    "rules: {} is again the version {} in force",
                    st.path,
                    st.version
                );
            }
            return Polled::Unchanged;
        }
        if st.bad_hash == Some(h) {
            return Polled::Unchanged;
        }
    }
    let swapped = parse(&path, &bytes, shared.has_gray()).and_then(|rules| {
        shared
            .swap(rules)
            .map_err(|problem| SidecarError::RulesInvalid {
                path: path.clone(),
                problem,
            })
    });
    match swapped {
        Ok(report) => {
            let mut st = shared.status.lock().unwrap_or_else(|e| e.into_inner());
            st.version = report.version;
            st.loaded_at = unix_now();
            st.last_error = None;
            st.last_error_at = None;
            st.in_force_hash = h;
            st.bad_hash = None;
            shared.metrics.reloads_ok.inc();
            shared.metrics.rules_file_ok.set(1);
            tracing::info!(
                "rules: loaded version {} from {} (kept {}, new or changed {}, removed {})",
                report.version,
                st.path,
                report.kept.len(),
                report.fresh.len(),
                report.removed.len()
            );
            Polled::Swapped
        }
        Err(e) => reject(shared, Some(h), &e),
    }
}

fn reject(shared: &Shared, bad_hash: Option<u64>, e: &SidecarError) -> Polled {
    let msg = crate::error::chain(e);
    let mut st = shared.status.lock().unwrap_or_else(|e| e.into_inner());
    st.bad_hash = bad_hash;
    if st.last_error.as_deref() == Some(msg.as_str()) {
        return Polled::Unchanged;
    }
    tracing::error!("{msg}; keeping version {} in force", st.version);
    st.last_error = Some(msg);
    st.last_error_at = Some(unix_now());
    shared.metrics.reloads_failed.inc();
    shared.metrics.rules_file_ok.set(0);
    Polled::Rejected
}

/// Polls the rules file every `interval` until the task is dropped.
pub(crate) async fn watch(shared: Arc<Shared>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        poll(&shared).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_the_file_and_the_problem() {
        let p = Path::new("/etc/seawall/rules.yaml");
        let e = parse(
            p,
            b"version: 1\nresources:\n  - name: a\n    flows: []\n",
            false,
        )
        .expect_err("unknown key")
        .to_string();
        assert!(e.starts_with("rules file /etc/seawall/rules.yaml: "), "{e}");
        assert!(e.contains("flows"), "{e}");
        let e = parse(Path::new("r.json"), b"version: 1", false)
            .expect_err("not JSON")
            .to_string();
        assert!(e.contains("r.json"), "{e}");
        let e = parse(p, &[0xff, 0xfe], false)
            .expect_err("binary")
            .to_string();
        assert!(e.contains("UTF-8"), "{e}");
        assert!(parse(Path::new("r.JSON"), br#"{"version": 3}"#, false).is_ok());
        let gray = b"version: 1\ngray: {id: g, percent: 5}\n";
        let e = parse(p, gray, false)
            .expect_err("no gray upstream")
            .to_string();
        assert!(e.contains("--gray-upstream"), "{e}");
        assert!(parse(p, gray, true).is_ok());
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "seawall-reload-{name}-{}-{}",
            std::process::id(),
            unix_now()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn a_reader_never_sees_a_partial_rules_file_and_no_temporary_file_stays() {
        let dir = temp_dir("atomic");
        let path = dir.join("rules.yaml");
        // Two documents large enough that a plain write takes many syscalls.
        let a = vec![b'a'; 256 * 1024];
        let b = vec![b'b'; 200 * 1024];
        write_atomically_blocking(&path, &a).expect("first write");
        let done = std::sync::atomic::AtomicBool::new(false);
        let reads = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut reads = 0u32;
                // Bounded: stops when the writer is done (or after 100,000 reads).
                while !done.load(std::sync::atomic::Ordering::SeqCst) && reads < 100_000 {
                    let got = std::fs::read(&path).expect("the file is always there");
                    assert!(
                        got == a || got == b,
                        "a reader saw {} bytes, neither document",
                        got.len()
                    );
                    reads += 1;
                }
                reads
            });
            for i in 0..60 {
                let doc = if i % 2 == 0 { &b } else { &a };
                write_atomically_blocking(&path, doc).expect("write");
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            reader.join().expect("reader")
        });
        assert!(reads > 0);
        assert_eq!(std::fs::read(&path).expect("read"), a);
        assert_eq!(
            names(&dir),
            ["rules.yaml"],
            "a temporary file was left behind"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o644, "the rules file is readable as before");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_leaves_the_old_rules_file_intact_and_no_temporary_file() {
        let dir = temp_dir("fail");
        let path = dir.join("rules.yaml");
        write_atomically_blocking(&path, b"version: 1\n").expect("first write");
        // The disk fills half-way through the new document.
        let e = write_atomically_with(&path, b"version: 2\nresources: []\n", |f, b| {
            std::io::Write::write_all(f, &b[..5])?;
            Err(std::io::Error::other("no space left on device"))
        })
        .expect_err("the write failed");
        assert!(e.contains("no space left"), "{e}");
        assert_eq!(std::fs::read(&path).expect("read"), b"version: 1\n");
        assert_eq!(names(&dir), ["rules.yaml"]);
        // A rename that cannot happen (a directory is in the way) fails the
        // same way: nothing replaced, nothing left.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).expect("dir");
        assert!(write_atomically_blocking(&blocked, b"x").is_err());
        assert!(blocked.join("inside").is_dir());
        assert_eq!(names(&dir), ["blocked", "rules.yaml"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn writes_through_the_async_entry_point() {
        let dir = temp_dir("async");
        let path = dir.join("r.json");
        write_atomically(&path, b"{}".to_vec())
            .await
            .expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"{}");
        let e = write_atomically(&dir.join("missing/r.json"), Vec::new())
            .await
            .expect_err("no directory");
        assert!(e.contains("missing"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hash_is_stable_and_content_sensitive() {
        assert_eq!(hash(b"abc"), hash(b"abc"));
        assert_ne!(hash(b"abc"), hash(b"abd"));
        assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
    }
}

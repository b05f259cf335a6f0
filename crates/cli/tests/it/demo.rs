//! `seawall demo`: the README's main command, run to its summary with
//! `--exit` on a free port. The searches of every entry are the closed
//! loop test's part (`crates/demo/tests/closed_loop.rs`, the same
//! `seawall_demo::start`); here two entries keep the CLI's run short.

#[allow(dead_code)] // this test runs `seawall` only through `seawall()`
use crate::common;

use common::seawall;

#[test]
fn demo_runs_the_whole_loop_and_prints_the_ui_and_a_token() {
    let data_dir = std::env::temp_dir().join(format!("seawall-demo-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let run = seawall(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--exit",
        "--entries",
        "home,call-car",
        // A short event day: the narrative and the review's path, not
        // its figures (the closed loop test holds those).
        "--day-minutes",
        "0.25",
        "--data-dir",
        data_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    // The narrative and the summary only: the embedded control plane's
    // and sidecars' log lines go to the file named at the end.
    for (name, out) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        for log in [
            "starting with no rules",
            "control:",
            "rules: loaded version",
            "seawall_sidecar",
            "seawall_server",
            " INFO ",
            " WARN ",
        ] {
            assert!(!out.contains(log), "a log line (`{log}`) on {name}:\n{out}");
        }
    }
    let log_file = data_dir.join("demo.log");
    assert!(
        run.stdout
            .contains(&format!("Logs:        {}", log_file.display())),
        "{}",
        run.stdout
    );
    let logs = std::fs::read_to_string(&log_file).expect("demo.log");
    assert!(logs.contains("seawall control plane listening"), "{logs}");
    assert!(logs.contains("seawall_sidecar"), "{logs}");
    let _ = std::fs::remove_dir_all(&data_dir);
    // Without --factor the factor is calibrated first, said, and used: at
    // most 0.04, the carnival's scale on a machine fast enough for it.
    let calibrated = run
        .stderr
        .lines()
        .find_map(|l| l.split_once("] scaled by ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no calibration line in:\n{}", run.stderr));
    let (factor, rest) = calibrated
        .split_once(": this machine drives about ")
        .unwrap_or_else(|| panic!("calibration line without a rate: {calibrated}"));
    let rate: f64 = rest
        .split_once(" rps (measured in ")
        .and_then(|(r, _)| r.parse().ok())
        .unwrap_or_else(|| panic!("calibration line without a rate: {calibrated}"));
    assert!(rate > 0.0, "{calibrated}");
    let f: f64 = factor.parse().expect("factor");
    assert!(f > 0.0 && f <= 0.04, "{calibrated}");
    assert!(
        run.stderr
            .contains(&format!("plan scaled ×{factor} to this machine")),
        "the calibrated factor {factor} is not the one used:\n{}",
        run.stderr
    );
    // Every step is shown as it happens.
    for step in [
        "control plane and war-room UI on http://127.0.0.1:",
        "simulated system up",
        "guard sidecars in front of",
        "plan version 1 pushed",
        "capacity search 2/2: call-car",
        "guard rules derived from the measured capacity",
        "the event day: 0.25 minutes of peak",
        "pushed: the peak moved to now",
        "the peak begins",
        "a push notification goes out",
        "the peak is over",
        "the review is written",
    ] {
        assert!(run.stderr.contains(step), "no `{step}` in:\n{}", run.stderr);
    }
    // The summary names the rehearsed entries with a measured knee.
    for entry in ["home", "call-car"] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains(&format!("│ {entry} ")))
            .unwrap_or_else(|| panic!("no row for {entry}:\n{}", run.stdout));
        assert!(!line.contains("│ – "), "{entry} has no knee: {line}");
    }
    assert!(
        run.stdout.contains("War-room UI: http://127.0.0.1:"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Token:       sw_"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Review:      ") && run.stdout.contains("/ui/events/demo/review"),
        "{}",
        run.stdout
    );
}

#[test]
fn demo_refuses_bad_input_before_starting_anything() {
    let run = seawall(&["demo", "--plan", "no/such.yaml", "--exit"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no/such.yaml"), "{}", run.stderr);
    let dir = std::env::temp_dir().join(format!("seawall-demo-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "event:\n  name: x\n  nope: 1\n").expect("write");
    let run = seawall(&["demo", "--plan", bad.to_str().expect("utf-8"), "--exit"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("bad.yaml:3:"), "{}", run.stderr);
    let run = seawall(&["demo", "--entries", "home,nope", "--exit"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("`nope` is not an entry"),
        "{}",
        run.stderr
    );
    let run = seawall(&["demo", "--factor=-1", "--exit", "--listen", "127.0.0.1:0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("E090") || run.stderr.contains("factor"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

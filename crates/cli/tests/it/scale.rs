//! `seawall plan scale`: a plan for a smaller environment that the other
//! verbs read with the same water levels; bad factors and plans refused.

use crate::common;

use common::{ok, root, seawall};

#[test]
fn scaled_plan_has_the_same_water_levels_at_a_fiftieth_of_the_rates() {
    let dir = std::env::temp_dir().join(format!("seawall-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = dir.join("small.yaml");
    let out_s = out.to_str().expect("utf-8");
    let printed = ok(&[
        "plan",
        "scale",
        "examples/carnival/plan.yaml",
        "--factor",
        "0.02",
    ]);
    ok(&[
        "plan",
        "scale",
        "examples/carnival/plan.yaml",
        "--factor",
        "0.02",
        "-o",
        out_s,
    ]);
    assert_eq!(std::fs::read_to_string(&out).expect("written"), printed);

    let json = |path: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&["plan", "capacity", path, "-f", "json"])).expect("json")
    };
    let big = json("examples/carnival/plan.yaml");
    let small = json(out_s);
    let rows = |v: &serde_json::Value| v["services"].as_array().expect("services").clone();
    for (b, s) in rows(&big).iter().zip(&rows(&small)) {
        assert_eq!(b["id"], s["id"]);
        let (tb, ts) = (
            b["target_qps"].as_f64().expect("t"),
            s["target_qps"].as_f64().expect("t"),
        );
        assert!(
            (ts - tb * 0.02).abs() < 1e-6 * tb,
            "{}: {tb} vs {ts}",
            b["id"]
        );
        let (wb, ws) = (
            b["water_level"].as_f64().expect("w"),
            s["water_level"].as_f64().expect("w"),
        );
        assert!((wb - ws).abs() < 1e-9, "{}", b["id"]);
        assert_eq!(b["status"], s["status"]);
        assert_eq!(b["instances_needed"], s["instances_needed"]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_factors_plans_and_files_are_refused_and_nothing_is_written() {
    let dir = std::env::temp_dir().join(format!("seawall-scale-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = dir.join("out.yaml");
    let out_s = out.to_str().expect("utf-8");
    for factor in ["0", "-1", "inf", "5000"] {
        let flag = format!("--factor={factor}");
        let run = seawall(&[
            "plan",
            "scale",
            "examples/carnival/plan.yaml",
            &flag,
            "-o",
            out_s,
        ]);
        assert_eq!(run.code, 1, "{factor}: {}", run.stderr);
        assert!(run.stderr.contains("E090"), "{}", run.stderr);
        assert!(!out.exists());
    }
    let run = seawall(&[
        "plan",
        "scale",
        "examples/carnival/plan.yaml",
        "--factor",
        "half",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "event:\n  name: x\n  bogus: 1\n").expect("write");
    let run = seawall(&[
        "plan",
        "scale",
        broken.to_str().expect("utf-8"),
        "--factor",
        "0.5",
        "-o",
        out_s,
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("broken.yaml:3:"), "{}", run.stderr);
    assert!(!out.exists());
    let run = seawall(&["plan", "scale", "no/such/plan.yaml", "--factor", "0.5"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no/such/plan.yaml"), "{}", run.stderr);
    assert!(root().join("examples/carnival/plan.yaml").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

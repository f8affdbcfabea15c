//! `heatkpi import` and `heatkpi query` as an operator runs them: a good file imports with exit
//! 0; a file with bad lines imports the rest, names each bad line with file:line, counts the
//! rejects by reason and exits 1; `query` reads back what was stored.

use std::process::Command;

fn heatkpi(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_heatkpi"))
        .arg("-c")
        .arg(dir.join("heatkpi.toml"))
        .args(args)
        .env("HEATKPI_LOG", "error")
        .output()
        .expect("run heatkpi");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn good_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("heatkpi.toml"),
        "[store]\npath = \"t.db\"\n",
    )
    .unwrap();
    let good = dir.path().join("good.lp");
    // 2026-10-01T00:00:00+02:00 = 1790805600 s; one-minute steps
    std::fs::write(
        &good,
        "substation,asset=ss-1 supply_temp=80.5,return_temp=45.0 1790805600000000000\n\
         substation,asset=ss-1 supply_temp=81.5,return_temp=46.0 1790805660000000000\n",
    )
    .unwrap();
    let (code, out, err) = heatkpi(dir.path(), &["import", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("4 imported, none rejected"), "{out}");

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "timestamp,series,value,quality\n\
         2026-10-01T00:02:00+02:00,ss-1.supply_temp,82.5\n\
         2026-10-01T00:03:00+02:00,ss-1.supply_tmp,80\n\
         2026-10-01T00:04:00+02:00,ss-1.supply_temp,abc\n\
         yesterday,ss-1.supply_temp,80\n\
         2026-10-01T00:00:00+02:00,ss-1.supply_temp,80.5\n",
    )
    .unwrap();
    let (code, out, err) = heatkpi(dir.path(), &["import", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let name = bad.display().to_string();
    assert!(
        err.contains(&format!("{name}:3: unknown quantity `supply_tmp`")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{name}:4: value `abc` is not a number")),
        "{err}"
    );
    assert!(err.contains(&format!("{name}:5: ")), "{err}");
    // one new reading lands; the last line repeats a stored (series, timestamp)
    assert!(
        out.contains(
            "1 imported, 4 rejected (bad_series: 1, bad_timestamp: 1, bad_value: 1, duplicate: 1)"
        ),
        "{out}"
    );

    let (code, out, err) = heatkpi(
        dir.path(),
        &[
            "query",
            "ss-1.supply_temp",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-02",
            "--format",
            "csv",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let values: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').nth(1).unwrap())
        .collect();
    assert_eq!(values, ["80.5", "81.5", "82.5"], "{out}");
    let (code, out, _) = heatkpi(
        dir.path(),
        &[
            "query",
            "ss-1.*",
            "--from",
            "2026-10-01T00:00",
            "--to",
            "2026-10-01T01:00",
            "--every",
            "1h",
            "--format",
            "csv",
        ],
    );
    assert_eq!(code, 0);
    // supply: mean of 80.5, 81.5, 82.5 = 81.5; return: mean of 45 and 46 = 45.5
    assert!(
        out.contains("ss-1.supply_temp,2026-10-01T00:00:00+02:00,3,3,81.5000"),
        "{out}"
    );
    assert!(
        out.contains("ss-1.return_temp,2026-10-01T00:00:00+02:00,2,2,45.5000"),
        "{out}"
    );
    let (code, _, err) = heatkpi(dir.path(), &["query", "nothing.*", "--from", "2026-10-01"]);
    assert_eq!(code, 2, "{err}");
}

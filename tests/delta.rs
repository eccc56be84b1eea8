//! Delta archives (issue 11): `pack --base`, `verify` / `verify --base` of a
//! delta, `unpack` of a delta, and one test per bad input. Byte identity of
//! `merge` is in tests/merge.rs.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{self, assert_refused, failed, ok, s};
use serde_json::Value;

/// Two images; `week` 2 changes the big layer of the first one only.
pub fn week(root: &Path, week: u8) -> Vec<PathBuf> {
    let changed = if week == 1 { 10 } else { 11 };
    vec![
        common::layout_with_layers(
            &root.join(format!("w{week}a")),
            "localhost/site/app:1",
            &[(1, 50_000), (changed, 1_500_000)],
        ),
        common::layout_with_layers(
            &root.join(format!("w{week}b")),
            "localhost/site/db:1",
            &[(2, 60_000), (3, 1_200_000)],
        ),
    ]
}

/// `airlock pack` of `layouts` into `out` with `extra` flags.
pub fn pack(layouts: &[PathBuf], out: &Path, extra: &[&str]) -> cli::Run {
    let mut a = cli::airlock(["pack"]);
    for l in layouts {
        a = a.arg("--from-oci-layout").arg(l);
    }
    a.arg("-o").arg(out).args(extra).run()
}

/// Week 1 full (`base.tar`), week 2 delta against it (`delta.tar`).
fn base_and_delta(root: &Path) -> (PathBuf, PathBuf) {
    let base = root.join("base.tar");
    let delta = root.join("delta.tar");
    ok(&pack(&week(root, 1), &base, &[]));
    ok(&pack(&week(root, 2), &delta, &["--base", s(&base)]));
    (base, delta)
}

fn json_of(r: &cli::Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn a_delta_carries_only_the_changed_layer_and_lists_the_rest_as_external() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base.tar");
    ok(&pack(&week(tmp.path(), 1), &base, &[]));
    let delta = tmp.path().join("delta.tar");
    let r = cli::airlock(["--output", "json"])
        .arg("pack")
        .args(
            week(tmp.path(), 2)
                .iter()
                .flat_map(|l| ["--from-oci-layout".as_ref(), l.as_os_str()]),
        )
        .args(["-o", s(&delta), "--base", s(&base)])
        .run();
    ok(&r);
    let report = json_of(&r);
    let d = &report["archive"]["delta"];
    assert_eq!(d["externalBlobs"], 3, "{report:#}");
    assert_eq!(d["externalBytes"], 50_000 + 60_000 + 1_200_000);
    let m = common::archive_json(&delta);
    cli::assert_schema_valid(&cli::archive_schema(), &m);
    assert_eq!(m["bases"][0]["kind"], "archive");
    // The changed layer is carried; the delta is far smaller than the base.
    let carried: Vec<u64> = m["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["size"].as_u64().unwrap())
        .collect();
    assert!(carried.contains(&1_500_000));
    let (bsize, dsize) = (
        std::fs::metadata(&base).unwrap().len(),
        std::fs::metadata(&delta).unwrap().len(),
    );
    assert!(
        dsize < 1_500_000 + 64_000 && dsize < bsize,
        "delta {dsize} base {bsize}"
    );

    // inspect shows carried vs external.
    let i = cli::run(&["inspect", s(&delta)]);
    ok(&i);
    assert!(i.stdout.contains("3 external blobs"), "{}", i.stdout);
}

#[test]
fn without_base_and_with_an_unrelated_base_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.tar"), tmp.path().join("b.tar"));
    ok(&pack(&week(tmp.path(), 1), &a, &[]));
    let other = common::layout_with_layers(&tmp.path().join("o"), common::REF, &[(77, 1000)]);
    let unrelated = tmp.path().join("unrelated.tar");
    ok(&cli::pack(&other, &unrelated, &[]).run());
    ok(&pack(&week(tmp.path(), 1), &b, &["--base", s(&unrelated)]));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn base_may_be_an_airlock_json_or_an_inventory() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, delta) = base_and_delta(tmp.path());
    let es = common::entries(&std::fs::read(&base).unwrap());
    let manifest = cli::put(
        tmp.path(),
        "airlock.json",
        &es[common::position(&es, "airlock.json")].data,
    );
    let via_json = tmp.path().join("via-json.tar");
    ok(&pack(
        &week(tmp.path(), 2),
        &via_json,
        &["--base", s(&manifest)],
    ));
    assert_eq!(
        std::fs::read(&delta).unwrap(),
        std::fs::read(&via_json).unwrap()
    );

    let inv = tmp.path().join("inventory.json");
    ok(&cli::run(&["inventory", s(&base), "-o", s(&inv)]));
    let via_inv = tmp.path().join("via-inv.tar");
    ok(&pack(&week(tmp.path(), 2), &via_inv, &["--base", s(&inv)]));
    let m = common::archive_json(&via_inv);
    assert_eq!(m["bases"][0]["kind"], "inventory");
    assert_eq!(m["external"].as_array().unwrap().len(), 3);
}

#[test]
fn verify_of_a_delta_lists_external_blobs_and_checks_them_with_base() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, delta) = base_and_delta(tmp.path());
    let r = cli::run(&["verify", s(&delta)]);
    ok(&r);
    assert!(r.stdout.contains("3 NOT checked"), "{}", r.stdout);
    let j = cli::run(&["--output", "json", "verify", s(&delta)]);
    ok(&j);
    let v = json_of(&j);
    assert_eq!(v["archive"]["delta"]["externalChecked"], false);
    assert_eq!(
        v["archive"]["delta"]["external"].as_array().unwrap().len(),
        3
    );

    let r = cli::run(&["verify", s(&delta), "--base", s(&base)]);
    ok(&r);
    assert!(
        r.stdout.contains("found in the base(s) and re-hashed"),
        "{}",
        r.stdout
    );
}

#[test]
fn unpack_of_a_delta_into_dir_takes_external_layers_from_the_base() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, delta) = base_and_delta(tmp.path());
    let full = tmp.path().join("full.tar");
    ok(&pack(&week(tmp.path(), 2), &full, &[]));
    let (from_delta, from_full) = (tmp.path().join("d"), tmp.path().join("f"));
    let unpack = |archive: &Path, out: &Path, extra: &[&str]| {
        cli::airlock(["unpack", "--insecure-no-policy", s(archive)])
            .arg("--into")
            .arg(format!("dir:{}", out.display()))
            .args(extra)
            .run()
    };
    ok(&unpack(&full, &from_full, &[]));
    ok(&unpack(&delta, &from_delta, &["--base", s(&base)]));
    for name in ["index.json", "blobs/sha256"] {
        let list = |d: &Path| {
            let p = d.join(name);
            if p.is_dir() {
                let mut v: Vec<_> = std::fs::read_dir(p)
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect();
                v.sort();
                format!("{v:?}")
            } else {
                String::from_utf8(std::fs::read(p).unwrap()).unwrap()
            }
        };
        assert_eq!(list(&from_delta), list(&from_full), "{name}");
    }
    // A layout directory serves as a base too.
    let from_layout = tmp.path().join("l");
    let w1 = week(tmp.path(), 1);
    ok(&unpack(
        &delta,
        &from_layout,
        &["--base", s(&w1[0]), "--base", s(&w1[1])],
    ));
}

#[test]
fn unpack_of_a_delta_without_base_is_refused_before_loading() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, delta) = base_and_delta(tmp.path());
    let out = tmp.path().join("out");
    let r = cli::airlock(["unpack", "--insecure-no-policy", s(&delta)])
        .arg("--into")
        .arg(format!("dir:{}", out.display()))
        .run();
    assert!(failed(&r, 2).contains("--base"), "{}", r.stderr);
    assert!(!out.exists());
}

// ---- bad input, one test each ----

#[test]
fn bad_base_that_lacks_an_external_blob_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, delta) = base_and_delta(tmp.path());
    let other = common::layout_with_layers(&tmp.path().join("o"), common::REF, &[(77, 1000)]);
    let wrong = tmp.path().join("wrong.tar");
    ok(&cli::pack(&other, &wrong, &[]).run());
    let m = common::archive_json(&delta);
    let first = m["external"][0]["digest"].as_str().unwrap().to_string();
    for args in [
        vec!["verify", s(&delta), "--base", s(&wrong)],
        vec!["merge", s(&wrong), s(&delta), "-o"],
    ] {
        let mut a = cli::airlock(&args);
        if args[0] == "merge" {
            a = a.arg(tmp.path().join("full.tar"));
        }
        let r = a.run();
        let err = failed(&r, 2);
        assert!(
            err.contains("lack 3 external blob(s)") && err.contains(&first),
            "{err}"
        );
    }
    assert!(!tmp.path().join("full.tar").exists());
}

#[test]
fn bad_base_blob_with_a_flipped_byte_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, delta) = base_and_delta(tmp.path());
    // An OCI layout base whose layer has one byte flipped.
    let w1 = week(tmp.path(), 1);
    let m = common::archive_json(&delta);
    let ext = m["external"].as_array().unwrap();
    let big = ext.iter().max_by_key(|e| e["size"].as_u64()).unwrap();
    let hex = big["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let layout = w1
        .iter()
        .find(|l| l.join("blobs/sha256").join(hex).exists())
        .unwrap();
    let p = layout.join("blobs/sha256").join(hex);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let out = tmp.path().join("out");
    let r = cli::airlock(["unpack", "--insecure-no-policy", s(&delta)])
        .arg("--into")
        .arg(format!("dir:{}", out.display()))
        .args(["--base", s(&w1[0]), "--base", s(&w1[1])])
        .run();
    failed(&r, 3);
    assert!(!out.exists());

    // In an archive base: the base fails its own verification.
    let mut es = common::entries(&std::fs::read(&base).unwrap());
    let i = common::position(&es, &format!("blobs/sha256/{hex}"));
    es[i].data[1000] ^= 1;
    let flipped = cli::put(tmp.path(), "flipped.tar", common::build(&es));
    let r = cli::run(&["verify", s(&delta), "--base", s(&flipped)]);
    failed(&r, 3);
    // merge reads only the blobs it takes from the base, each re-hashed.
    let full = tmp.path().join("full.tar");
    let r = cli::run(&["merge", s(&flipped), s(&delta), "-o", s(&full)]);
    let err = failed(&r, 3);
    assert!(err.contains("changed or is corrupt"), "{err}");
    assert!(!full.exists());
}

#[test]
fn bad_delta_packed_against_a_unpacked_with_b_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, delta) = base_and_delta(tmp.path());
    // Base B: week 2's full archive minus nothing in common with week 1's
    // unchanged layers (a different image set).
    let other = common::layout_with_layers(&tmp.path().join("b"), common::REF, &[(1, 50_000)]);
    let b = tmp.path().join("b.tar");
    ok(&cli::pack(&other, &b, &[]).run());
    let out = tmp.path().join("out");
    let r = cli::airlock(["unpack", "--insecure-no-policy", s(&delta)])
        .arg("--into")
        .arg(format!("dir:{}", out.display()))
        .args(["--base", s(&b)])
        .run();
    let err = failed(&r, 2);
    assert!(err.contains("lack 2 external blob(s)"), "{err}");
    assert!(!out.exists());
}

#[test]
fn bad_external_blob_whose_size_in_the_base_differs_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, delta) = base_and_delta(tmp.path());
    let w1 = week(tmp.path(), 1);
    let m = common::archive_json(&delta);
    let hex = m["external"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let layout = w1
        .iter()
        .find(|l| l.join("blobs/sha256").join(hex).exists())
        .unwrap();
    let p = layout.join("blobs/sha256").join(hex);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.push(0);
    std::fs::write(&p, bytes).unwrap();
    let out = tmp.path().join("out");
    let r = cli::airlock(["unpack", "--insecure-no-policy", s(&delta)])
        .arg("--into")
        .arg(format!("dir:{}", out.display()))
        .args(["--base", s(&w1[0]), "--base", s(&w1[1])])
        .run();
    let err = failed(&r, 3);
    assert!(err.contains("but the delta lists"), "{err}");
    assert!(!out.exists());
}

#[test]
fn bad_manifest_listing_a_blob_as_both_carried_and_external_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, delta) = base_and_delta(tmp.path());
    let mut es = common::entries(&std::fs::read(&delta).unwrap());
    let mut m = common::airlock_json(&es);
    let carried = m["blobs"][0].clone();
    let mut ext = m["external"].as_array().unwrap().clone();
    ext.push(serde_json::json!({
        "digest": carried["digest"], "size": carried["size"],
        "mediaType": carried["mediaType"], "base": 0
    }));
    ext.sort_by_key(|e| e["digest"].as_str().unwrap().to_string());
    m["external"] = Value::Array(ext);
    common::set_airlock_json(&mut es, &m);
    let bad = cli::put(tmp.path(), "bad.tar", common::build(&es));
    let r = cli::run(&["--output", "json", "verify", s(&bad)]);
    assert_refused(&r, 3, "contradiction");
    assert!(
        r.stderr.contains("both carried and external"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_inventory_malformed_or_oversized_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let w2 = week(tmp.path(), 2);
    let out = tmp.path().join("delta.tar");
    let malformed = cli::put(
        tmp.path(),
        "malformed.json",
        br#"{"mediaType":"application/vnd.airlock.inventory.v1+json","formatVersion":1,"blobs":[{"digest":"sha256:zz","size":1}],"manifests":[]}"#,
    );
    let r = pack(&w2, &out, &["--base", s(&malformed)]);
    assert!(
        failed(&r, 2).contains("not a valid inventory"),
        "{}",
        r.stderr
    );

    let big = tmp.path().join("big.json");
    let f = std::fs::File::create(&big).unwrap();
    std::io::Write::write_all(&mut &f, b"{").unwrap();
    f.set_len(airlock::model::limits::MAX_INVENTORY_BYTES + 10)
        .unwrap();
    let r = pack(&w2, &out, &["--base", s(&big)]);
    assert!(failed(&r, 2).contains("larger than"), "{}", r.stderr);
    assert!(!out.exists());
}

/// The repositories a plain-HTTP registry holds (its catalog).
fn catalog(reg: &common::registry::Registry) -> Vec<String> {
    let o = std::process::Command::new("curl")
        .args(["-sf", &format!("http://{}/v2/_catalog", reg.host)])
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut r: Vec<String> = v["repositories"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    r.sort();
    r
}

fn unpack_into_registry(archive: &Path, reg: &common::registry::Registry, ns: &str) -> cli::Run {
    cli::airlock(["unpack", "--insecure-no-policy", s(archive)])
        .arg("--into")
        .arg(format!("registry:{}/{ns}", reg.host))
        .args(["--insecure-registry", &reg.host])
        .run()
}

#[test]
fn bad_inventory_claiming_a_blob_the_registry_lacks_pushes_nothing() {
    let Some(reg) = common::registry::Registry::plain() else {
        return;
    };
    if !common::registry::have_tools(&["curl"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base.tar");
    ok(&pack(&week(tmp.path(), 1), &base, &[]));
    // Week 1 is at the site registry under site/; its inventory says so.
    ok(&unpack_into_registry(&base, &reg, "site"));
    let inv = tmp.path().join("inventory.json");
    ok(&cli::run(&["inventory", s(&base), "-o", s(&inv)]));
    let delta = tmp.path().join("delta.tar");
    ok(&pack(&week(tmp.path(), 2), &delta, &["--base", s(&inv)]));

    // Under another namespace the registry lacks the external layers.
    let before = catalog(&reg);
    let r = unpack_into_registry(&delta, &reg, "elsewhere");
    let err = failed(&r, 6);
    assert!(err.contains("lacks 3 external blob(s)"), "{err}");
    let m = common::archive_json(&delta);
    assert!(
        err.contains(m["external"][0]["digest"].as_str().unwrap()),
        "{err}"
    );
    assert_eq!(catalog(&reg), before, "nothing pushed");

    // Where week 1 is, the delta unpacks.
    ok(&unpack_into_registry(&delta, &reg, "site"));
}

#[test]
fn inventory_of_a_registry_lists_what_it_holds_and_a_delta_against_it_unpacks() {
    let Some(reg) = common::registry::Registry::plain() else {
        return;
    };
    if !common::registry::have_tools(&["curl"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base.tar");
    ok(&pack(&week(tmp.path(), 1), &base, &[]));
    ok(&unpack_into_registry(&base, &reg, "site"));
    let inv = tmp.path().join("inventory.json");
    let from = format!("registry:{}/site", reg.host);
    ok(&cli::run(&[
        "inventory",
        &from,
        "-o",
        s(&inv),
        "--insecure-registry",
        &reg.host,
    ]));
    let v: Value = serde_json::from_slice(&std::fs::read(&inv).unwrap()).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2, "{v:#}");
    let text = std::fs::read_to_string(&inv).unwrap();
    assert!(!text.contains(&reg.host), "no host names in an inventory");
    // Every layer of week 1 is listed (by the archive's own digests).
    let m = common::archive_json(&base);
    let blobs = v["blobs"].as_array().unwrap();
    for b in m["blobs"].as_array().unwrap() {
        if b["mediaType"] == "application/vnd.oci.image.layer.v1.tar" {
            assert!(blobs.iter().any(|x| x["digest"] == b["digest"]), "{b}");
        }
    }
    // Another namespace: nothing from site/.
    let empty = tmp.path().join("empty.json");
    let other = format!("registry:{}/nothing", reg.host);
    ok(&cli::run(&[
        "inventory",
        &other,
        "-o",
        s(&empty),
        "--insecure-registry",
        &reg.host,
    ]));
    let e: Value = serde_json::from_slice(&std::fs::read(&empty).unwrap()).unwrap();
    assert!(e["blobs"].as_array().unwrap().is_empty());

    let delta = tmp.path().join("delta.tar");
    ok(&pack(&week(tmp.path(), 2), &delta, &["--base", s(&inv)]));
    assert_eq!(
        common::archive_json(&delta)["external"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    ok(&unpack_into_registry(&delta, &reg, "site"));
}

/// A real (tar-layered) image under `reference`: layers of the given seeds.
fn real_layout(dir: &Path, reference: &str, seeds: &[u64]) -> PathBuf {
    use airlock_testkit::{ImageSpec, Layout, Platform};
    let mut l = Layout::create(dir).unwrap();
    let layers: Vec<_> = seeds
        .iter()
        .map(|s| l.add_random_layer(200_000, *s).unwrap())
        .collect();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &layers)
        .unwrap();
    l.tag(reference, &m);
    l.finish().unwrap()
}

#[test]
fn unpack_of_a_delta_into_podman_needs_a_base_and_then_loads() {
    if !common::registry::have_tools(&["podman"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reference = "localhost/site/real:1";
    let w1 = real_layout(&tmp.path().join("w1"), reference, &[1, 2]);
    let w2 = real_layout(&tmp.path().join("w2"), reference, &[1, 3]);
    let (base, delta) = (tmp.path().join("base.tar"), tmp.path().join("delta.tar"));
    ok(&cli::pack(&w1, &base, &[]).run());
    ok(&cli::pack(&w2, &delta, &["--base", s(&base)]).run());
    assert_eq!(
        common::archive_json(&delta)["external"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let store = tempfile::tempdir().unwrap();
    let podman_args = format!(
        "--root={} --runroot={} --storage-driver=vfs",
        store.path().join("root").display(),
        store.path().join("run").display()
    );
    let unpack = |extra: &[&str]| {
        cli::airlock([
            "unpack",
            "--insecure-no-policy",
            s(&delta),
            "--into",
            "podman",
        ])
        .args(extra)
        .env("AIRLOCK_PODMAN_ARGS", &podman_args)
        .run()
    };
    let r = unpack(&[]);
    assert!(failed(&r, 2).contains("--base"), "{}", r.stderr);
    let r = unpack(&["--base", s(&base)]);
    ok(&r);
    let id = std::process::Command::new("podman")
        .args(podman_args.split(' '))
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .output()
        .unwrap();
    let config = common::archive_json(&delta)["images"][0]["configDigest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), config);
}

#[test]
fn serve_and_diff_refuse_a_delta_rather_than_miss_its_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, delta) = base_and_delta(tmp.path());
    let r = cli::run(&[
        "serve",
        "--insecure-no-policy",
        "--listen",
        "127.0.0.1:0",
        s(&delta),
    ]);
    assert!(failed(&r, 2).contains("delta archive"), "{}", r.stderr);
    let a = format!("{}:localhost/site/app:1", delta.display());
    let b = format!("{}:localhost/site/app:1", base.display());
    let r = cli::run(&["diff", &a, &b]);
    assert!(failed(&r, 2).contains("delta archive"), "{}", r.stderr);
}

/// Every file under `dir` as (relative path, content), sorted.
fn files_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_delta_updates_the_layout_at_dir_path_in_place_and_a_full_archive_may_not() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, delta) = base_and_delta(tmp.path());
    let full = tmp.path().join("full.tar");
    ok(&pack(&week(tmp.path(), 2), &full, &[]));
    let unpack = |archive: &Path, out: &Path| {
        cli::airlock(["unpack", "--insecure-no-policy", s(archive)])
            .arg("--into")
            .arg(format!("dir:{}", out.display()))
            .run()
    };
    let (site, fresh) = (tmp.path().join("site"), tmp.path().join("fresh"));
    ok(&unpack(&base, &site));
    let week1 = files_of(&site);
    // A complete archive never replaces a layout.
    let r = unpack(&full, &site);
    assert!(failed(&r, 6).contains("not empty"), "{}", r.stderr);
    assert_eq!(files_of(&site), week1);
    // The delta takes its external layers from the layout at PATH (no
    // --base) and leaves exactly what a full unpack gives.
    ok(&unpack(&delta, &site));
    ok(&unpack(&full, &fresh));
    assert_eq!(files_of(&site), files_of(&fresh));
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".airlock-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_layout_at_dir_path_lacking_an_external_layer_is_refused_and_left_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, delta) = base_and_delta(tmp.path());
    let site = tmp.path().join("site");
    ok(&cli::airlock(["unpack", "--insecure-no-policy", s(&base)])
        .arg("--into")
        .arg(format!("dir:{}", site.display()))
        .run());
    // The site lost a layer the delta leaves out.
    let external = cli::airlock(["inspect", "--output", "json", s(&delta)]).run();
    let doc = json_of(&external);
    let lost = doc["archive"]["delta"]["external"][0]["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no external blob in {doc}"))
        .trim_start_matches("sha256:")
        .to_string();
    std::fs::remove_file(site.join("blobs/sha256").join(&lost)).unwrap();
    let before = files_of(&site);
    let r = cli::airlock(["unpack", "--insecure-no-policy", s(&delta)])
        .arg("--into")
        .arg(format!("dir:{}", site.display()))
        .run();
    assert!(r.code != 0 && r.stderr.contains(&lost), "{}", r.stderr);
    assert_eq!(files_of(&site), before);
}

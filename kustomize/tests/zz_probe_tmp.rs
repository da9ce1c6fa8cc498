//! probe
#[test]
fn probe_kustomize() {
    let t = std::time::Instant::now();
    let r = sluice_kustomize::build(std::path::Path::new(&std::env::var("PROBE_DIR").unwrap()), None);
    eprintln!("kustomize build: {:?} after {:?}", r.as_ref().map(|v| v.len()).map_err(|e| e.to_string().chars().take(200).collect::<String>()), t.elapsed());
}

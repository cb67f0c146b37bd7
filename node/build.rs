//! The web application embeds the JavaScript verifier's two pinned packages from `web/verifier/node_modules`
//! (`node/src/api/web.rs`). Without them `include_bytes!` would fail with a bare "No such file"; this says what to do.

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/verifier");
    for package in ["@noble/ed25519/index.js", "@noble/hashes/sha2.js"] {
        let path = root.join("node_modules").join(package);
        println!("cargo::rerun-if-changed={}", path.display());
        if !path.exists() {
            panic!(
                "web/verifier/node_modules/{package} is missing: the node embeds the web page's verifier and its \
                 pinned packages. Run `npm ci --prefix web/verifier` once (scripts/testnet, scripts/test and .ci/run \
                 do it before building)."
            );
        }
    }
    println!("cargo::rerun-if-changed=../web/verifier/package-lock.json");
}

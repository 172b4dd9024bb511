//! Builds and proves N synthetic members (default 1,000,000), timing each phase: the
//! numbers behind BENCHMARKS.md's federated anchoring row. Peak memory: run under
//! `/usr/bin/time -v`.
//!
//! `cargo run --release -p treaty-anchor --example build_million -- [N] [--json]`
//!
//! With `--json` it also writes the manifest to a temporary file and reads it back
//! (streaming both ways), so peak memory then covers the manifest and the re-read one.

use std::time::Instant;
use treaty_anchor::bench::{counter_nonces, synthetic_members};
use treaty_anchor::{Document, Manifest};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let with_json = args.iter().any(|a| a == "--json");
    let n: usize = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);

    let t = Instant::now();
    let inputs = synthetic_members(n);
    let generate = t.elapsed();

    let t = Instant::now();
    let manifest = Manifest::build(inputs, &mut counter_nonces(), &mut |_, _| {})?;
    let build = t.elapsed();

    let t = Instant::now();
    let root = manifest.root();
    let mut hashes = 0usize;
    for i in 0..n {
        let p = manifest.proven(i)?;
        p.proof.verify(&p.commitment, &root)?;
        hashes += p.proof.hashes.len();
    }
    let prove = t.elapsed();

    println!("members:            {n}");
    println!("root:               {}", hex::encode(root));
    println!("generate inputs:    {:.2} s", generate.as_secs_f64());
    println!(
        "build (validate, commit, tree): {:.2} s",
        build.as_secs_f64()
    );
    println!(
        "prove + verify all: {:.2} s ({hashes} proof hashes)",
        prove.as_secs_f64()
    );
    if with_json {
        let path =
            std::env::temp_dir().join(format!("treaty-anchor-bench-{}.json", std::process::id()));
        let t = Instant::now();
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
        manifest.write_json(&mut w, &mut |_, _| {})?;
        std::io::Write::flush(&mut w)?;
        let write = t.elapsed();
        let size = std::fs::metadata(&path)?.len();
        let t = Instant::now();
        let back = Document::from_json_reader(std::fs::File::open(&path)?)?;
        let read = t.elapsed();
        drop(back);
        std::fs::remove_file(&path)?;
        println!(
            "write JSON:         {:.2} s ({} MB)",
            write.as_secs_f64(),
            size / 1_000_000
        );
        println!("read + check JSON:  {:.2} s", read.as_secs_f64());
    }
    Ok(())
}

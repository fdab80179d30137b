//! Compiles `proto/faas/provider/v1/provider.proto` with protox (pure Rust, no `protoc`) and
//! generates the tonic client and server (feature `grpc`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "grpc")]
    {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
        let file = "faas/provider/v1/provider.proto";
        println!("cargo:rerun-if-changed={}", root.join(file).display());
        let fds = protox::compile([file], [&root])?;
        tonic_prost_build::configure()
            .btree_map(".")
            .compile_fds(fds)?;
    }
    Ok(())
}

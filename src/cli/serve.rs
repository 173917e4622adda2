//! `sluice serve`: the service, until SIGINT or SIGTERM.

use std::path::PathBuf;

use super::*;
use crate::boot::{self, BuildOptions};
use crate::config::Config;

pub(super) async fn serve(file: Option<PathBuf>, args: ServeArgs) -> Result<(), CliError> {
    let config = Config::load(file.as_deref(), &args)?;
    init_logging(config.log_format);
    warn_unknown_env();
    let running = boot::build(config, BuildOptions::default()).await?;
    tracing::info!(addr = %running.addr, url = %running.public_url, "Sluice is listening (HTTPS)");
    tracing::info!(addr = %running.metrics_addr, "metrics and health on http://{}/metrics", running.metrics_addr);
    if let Some(files) = &running.bootstrap_files {
        println!("# Sluice is ready at {}. For the aws CLI and boto3:", running.public_url);
        if let Some(ca) = &files.ca_bundle {
            // A machine-wide AWS_CA_BUNDLE outranks the config file's ca_bundle.
            if let Some(other) = std::env::var_os("AWS_CA_BUNDLE").filter(|v| v.as_os_str() != ca.as_os_str()) {
                tracing::warn!(
                    set = %PathBuf::from(other).display(),
                    "AWS_CA_BUNDLE points elsewhere: SDKs would not trust Sluice's certificate until the export below"
                );
            }
            println!("export AWS_CA_BUNDLE={}", ca.display());
        }
        println!("export AWS_CONFIG_FILE={}", files.config.display());
        println!("export AWS_SHARED_CREDENTIALS_FILE={}", files.credentials.display());
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let handle = running.server.handle();
    let mut server = tokio::spawn(running.server);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::Other(format!("signal handler: {e}")))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        r = &mut server => tracing::warn!(?r, "server stopped"),
    }
    // Stop accepting; open long polls answer at once (empty); requests in flight finish
    // within the shutdown timeout; then the managed database stops.
    running.queues.shut_down();
    handle.stop(true).await;
    let _ = server.await;
    running.database.close(true).await;
    tracing::info!("stopped");
    Ok(())
}

//! `bitatlas replicas check|repair --tenant T [--json]`: whether a tenant's copies agree, and
//! making every replica what the home store holds (audited like every call).

use super::Exit;
use super::keys_tenant::{Installation, with_tenant};
use crate::service::ReplicaReport;

/// `replicas` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ReplicasCommand {
    /// Compare every copy with the home store; exit 0 only when all agree.
    Check(ReplicasArgs),
    /// Copy what replicas lack or hold stale from the home store, delete what only they hold;
    /// exit 0 when every copy agrees afterwards. Resumable: run it again.
    Repair(ReplicasArgs),
}

/// Arguments of both subcommands.
#[derive(Debug, clap::Args)]
pub struct ReplicasArgs {
    /// The tenant.
    #[arg(long, value_name = "NAME")]
    tenant: String,
    /// Print the report as one JSON object `{stores, objects, missing, stale, extra, repaired}`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    at: Installation,
}

/// Runs a `replicas` subcommand.
pub fn run(cmd: ReplicasCommand) -> Exit {
    let (args, repair) = match cmd {
        ReplicasCommand::Check(a) => (a, false),
        ReplicasCommand::Repair(a) => (a, true),
    };
    let json = args.json;
    with_tenant(&args.at, &args.tenant, async |service, _, caller, _| {
        let report = service
            .replicas(&caller, repair)
            .await
            .map_err(|e| (Exit::Failure, e.to_string()))?;
        print(&report, json);
        if report.agrees() {
            Ok(())
        } else {
            Err((
                Exit::Failure,
                "the copies differ: run `bitatlas replicas repair`".into(),
            ))
        }
    })
}

fn print(r: &ReplicaReport, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
    } else {
        println!(
            "stores {}: {} objects at home; missing {}, stale {}, extra {}; repaired {}",
            r.stores.join(", "),
            r.objects,
            r.missing,
            r.stale,
            r.extra,
            r.repaired
        );
    }
}

//! `deploy/` installs on the real local control plane as a user installs it: built by our
//! kustomize engine, applied in stages (CRDs and Namespaces first) by the same applier the
//! Kustomization controller uses, and every controller Deployment becomes Available on kwok nodes.
//! The dev overlay keeps the multi-tenant lockdown and the base's probes, resources, Services and
//! NetworkPolicies while running the local image.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use sluice_gitops::kustomization::apply::Applier;
use sluice_gitops::kustomization::clients::Clients;
use sluice_tests::binaries::workspace_root;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const CONTROLLERS: [&str; 4] = [
    "sluice-core",
    "sluice-image-reflector",
    "sluice-image-automation",
    "sluice-canary",
];

#[tokio::test]
async fn the_multi_tenant_install_makes_every_controller_available() -> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    let overlay = workspace_root().join("deploy/overlays/multi-tenant");
    let objects = sluice_kustomize::build(&overlay, Some(&workspace_root()))?;
    let clients = Clients::new(client.clone(), None);
    let applier = Applier {
        clients: &clients,
        client: client.clone(),
        default_namespace: "sluice-system".into(),
        force: false,
        deadline: Instant::now() + Duration::from_secs(120),
    };
    applier.apply_all(objects).await?;

    let deployments: Api<Deployment> = Api::namespaced(client, "sluice-system");
    wait_until(
        "every controller Deployment Available",
        Duration::from_secs(120),
        || async {
            let mut available = 0;
            for name in CONTROLLERS {
                let deployment =
                    deployments
                        .get_opt(name)
                        .await
                        .map_err(|e| HarnessError::Start {
                            what: name.into(),
                            why: e.to_string(),
                        })?;
                let conditions = deployment
                    .and_then(|d| d.status)
                    .and_then(|s| s.conditions)
                    .unwrap_or_default();
                if conditions.iter().any(|c| {
                    c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")
                }) {
                    available += 1;
                }
            }
            Ok(available == CONTROLLERS.len())
        },
    )
    .await?;
    Ok(())
}

/// The Deployments of a built overlay.
fn deployments(objects: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    objects
        .iter()
        .filter(|object| object["kind"] == "Deployment")
        .collect()
}

#[test]
fn the_dev_overlay_runs_the_local_image_with_the_lockdown_and_keeps_the_base_safeguards()
-> anyhow::Result<()> {
    let root = workspace_root();
    let objects = sluice_kustomize::build(&root.join("deploy/overlays/dev"), Some(&root))?;
    let deployments = deployments(&objects);
    assert_eq!(deployments.len(), CONTROLLERS.len());
    for deployment in &deployments {
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "sluice:dev", "{deployment}");
        assert_eq!(container["imagePullPolicy"], "Never");
        for probe in ["livenessProbe", "readinessProbe"] {
            assert!(container[probe]["httpGet"]["path"].is_string(), "{probe}");
        }
        assert!(container["resources"]["requests"]["memory"].is_string());
        assert!(container["resources"]["limits"]["memory"].is_string());
        let args = container["args"].to_string();
        assert!(args.contains("--no-cross-namespace-refs"), "{args}");
    }
    let core = deployments
        .iter()
        .find(|d| d["metadata"]["name"] == "sluice-core")
        .expect("sluice-core is installed");
    let args = core["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(args.contains("--default-service-account=default"), "{args}");
    let named = |kind: &str| -> Vec<&str> {
        objects
            .iter()
            .filter(|object| object["kind"] == kind)
            .filter_map(|object| object["metadata"]["name"].as_str())
            .collect()
    };
    assert_eq!(
        named("NetworkPolicy"),
        ["sluice-allow-egress", "sluice-allow-http"]
    );
    let services = named("Service");
    for controller in CONTROLLERS {
        assert!(services.contains(&controller), "no Service {controller}");
    }
    assert!(!named("ClusterRoleBinding").contains(&"sluice-core-apply"));
    Ok(())
}

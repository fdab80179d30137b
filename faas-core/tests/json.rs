//! JSON in the exact shapes faas-cli and OpenFaaS providers send (reference doc §1.3 and §7):
//! unknown fields ignored, `null` maps accepted, Go `omitempty` rules on output.

use anyhow::Result;
use faas_core::{
    DeleteFunctionRequest, FunctionDeployment, FunctionNamespace, FunctionStatus, LogEntry,
    ProviderInfo, ScaleRequest, Secret, SecretInfo,
};
use serde_json::{Value, json};

/// `faas-cli deploy` of a stack.yml function: PUT/POST /system/functions.
const FAAS_CLI_DEPLOY: &str = r#"{
  "service": "nodeinfo",
  "image": "ghcr.io/openfaas/nodeinfo:latest",
  "network": "func_functions",
  "envProcess": "node index.js",
  "envVars": {"write_debug": "true", "read_timeout": "10s"},
  "constraints": ["node.platform.os == linux"],
  "secrets": ["api-key"],
  "labels": null,
  "annotations": {
    "topic": "cron-function",
    "com.example/schema": "{\n  \"type\": \"object\",\n  \"required\": [\"name\"]\n}"
  },
  "limits": {"memory": "5Mi", "cpu": "100m"},
  "requests": {"memory": "5Mi"},
  "readOnlyRootFilesystem": true,
  "registryAuth": "dXNlcjpwYXNzd29yZA==",
  "namespace": "openfaas-fn"
}"#;

#[test]
fn faas_cli_deploy_parses_ignoring_unknown_fields() -> Result<()> {
    let fd: FunctionDeployment = serde_json::from_str(FAAS_CLI_DEPLOY)?;
    assert_eq!(fd.service, "nodeinfo");
    assert_eq!(fd.fprocess(), Some("node index.js"));
    assert!(fd.labels.is_empty(), "labels: null is an empty map");
    assert_eq!(
        fd.annotations["com.example/schema"],
        "{\n  \"type\": \"object\",\n  \"required\": [\"name\"]\n}"
    );
    let limits = fd.limits.clone().unwrap_or_default();
    assert_eq!(
        (limits.memory.as_str(), limits.cpu.as_str()),
        ("5Mi", "100m")
    );
    assert!(fd.read_only_root_filesystem);
    fd.validate()?;

    let out = serde_json::to_value(&fd)?;
    assert!(
        out.get("network").is_none() && out.get("registryAuth").is_none(),
        "unknown fields echoed: {out}"
    );
    assert!(
        out.get("labels").is_none(),
        "empty labels must be omitted: {out}"
    );
    assert_eq!(out["limits"], json!({"memory": "5Mi", "cpu": "100m"}));
    assert_eq!(out["requests"], json!({"memory": "5Mi"}));
    let back: FunctionDeployment = serde_json::from_value(out)?;
    assert_eq!(back, fd);
    Ok(())
}

#[test]
fn minimal_deploy_serialises_without_invented_fields() -> Result<()> {
    let fd: FunctionDeployment =
        serde_json::from_str(r#"{"service":"f","image":"img","envProcess":"cat"}"#)?;
    assert_eq!(
        serde_json::to_string(&fd)?,
        r#"{"service":"f","image":"img","envProcess":"cat"}"#
    );
    let with_nulls: FunctionDeployment = serde_json::from_str(
        r#"{"service":"f","image":"img","envVars":null,"secrets":null,"constraints":null,"annotations":null,"namespace":null,"limits":null}"#,
    )?;
    assert_eq!(
        serde_json::to_string(&with_nulls)?,
        r#"{"service":"f","image":"img"}"#
    );
    Ok(())
}

#[test]
fn function_status_omits_zero_replicas_but_always_has_created_at() -> Result<()> {
    let fd = FunctionDeployment::new("f", "img").with_env_process("cat");
    let created = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")?.to_utc();
    let mut status = FunctionStatus::from_deployment(&fd, "openfaas-fn", created);
    let v = serde_json::to_value(&status)?;
    assert_eq!(
        v,
        json!({"name": "f", "image": "img", "namespace": "openfaas-fn", "envProcess": "cat",
               "labels": {"faas_function": "f"}, "createdAt": "2024-05-01T10:00:00Z"})
    );
    status.replicas = 2;
    status.available_replicas = 1;
    let v = serde_json::to_value(&status)?;
    assert_eq!(
        (v["replicas"].clone(), v["availableReplicas"].clone()),
        (json!(2), json!(1))
    );
    assert!(
        v.get("envVars").is_none()
            && v.get("invocationCount").is_none()
            && v.get("usage").is_none()
    );
    let back: FunctionStatus = serde_json::from_value(v)?;
    assert_eq!(back, status);
    assert_eq!(back.to_deployment(), fd.with_namespace("openfaas-fn"));
    Ok(())
}

#[test]
fn provider_status_list_from_faas_netes_parses() -> Result<()> {
    let body = r#"[{"name":"nodeinfo","image":"ghcr.io/openfaas/nodeinfo:latest","invocationCount":0,
        "replicas":1,"availableReplicas":1,"envProcess":"node index.js","labels":{"faas_function":"nodeinfo"},
        "annotations":null,"namespace":"openfaas-fn","createdAt":"2024-05-01T10:00:00.123456789Z",
        "usage":{"cpu":12.5,"totalMemoryBytes":1048576}}]"#;
    let list: Vec<FunctionStatus> = serde_json::from_str(body)?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].created_at.timestamp_subsec_nanos(), 123_456_789);
    assert_eq!(
        list[0].usage.as_ref().map(|u| u.total_memory_bytes),
        Some(1_048_576.0)
    );
    let v = serde_json::to_value(&list[0])?;
    assert_eq!(v["createdAt"], "2024-05-01T10:00:00.123456789Z");
    Ok(())
}

#[test]
fn secrets_carry_raw_values_as_base64_and_list_without_values() -> Result<()> {
    let s: Secret = serde_json::from_str(
        r#"{"name":"api-key","namespace":"openfaas-fn","rawValue":"AAEC/w=="}"#,
    )?;
    assert_eq!(s.bytes(), [0u8, 1, 2, 255]);
    assert_eq!(
        serde_json::to_value(&s)?,
        json!({"name": "api-key", "namespace": "openfaas-fn", "rawValue": "AAEC/w=="})
    );
    let text: Secret = serde_json::from_str(r#"{"name":"api-key","value":"s3cret"}"#)?;
    assert_eq!(text.bytes(), b"s3cret");
    assert!(
        !format!("{text:?}").contains("s3cret"),
        "Debug leaks the value"
    );
    assert!(serde_json::from_str::<Secret>(r#"{"name":"x","rawValue":"not base64!"}"#).is_err());
    let listed: Vec<SecretInfo> =
        serde_json::from_str(r#"[{"name":"a","namespace":"openfaas-fn"}]"#)?;
    assert_eq!(
        serde_json::to_value(&listed)?,
        json!([{"name": "a", "namespace": "openfaas-fn"}])
    );
    Ok(())
}

#[test]
fn scale_and_delete_requests_match_the_openfaas_shape() -> Result<()> {
    let scale: ScaleRequest = serde_json::from_str(r#"{"serviceName":"f","replicas":0}"#)?;
    assert_eq!(scale, ScaleRequest::new("f", "", 0));
    assert_eq!(
        serde_json::to_value(&scale)?,
        json!({"serviceName": "f", "replicas": 0}),
        "replicas is never omitted"
    );
    let del: DeleteFunctionRequest =
        serde_json::from_str(r#"{"functionName":"f","namespace":"dev"}"#)?;
    assert_eq!(
        (del.function_name.as_str(), del.namespace.as_str()),
        ("f", "dev")
    );
    Ok(())
}

#[test]
fn namespaces_log_lines_and_info_round_trip() -> Result<()> {
    let ns: FunctionNamespace =
        serde_json::from_str(r#"{"name":"dev","labels":{"openfaas":"1"},"annotations":null}"#)?;
    assert_eq!(
        serde_json::to_value(&ns)?,
        json!({"name": "dev", "labels": {"openfaas": "1"}})
    );

    let line = r#"{"name":"f","namespace":"openfaas-fn","instance":"f-1","timestamp":"2024-05-01T10:00:00.000000001Z","text":"Forking fprocess."}"#;
    let entry: LogEntry = serde_json::from_str(line)?;
    assert_eq!(serde_json::to_string(&entry)?, line);

    let info: ProviderInfo = serde_json::from_str(
        r#"{"provider":"faas-netes-ce","version":{"sha":"abc","release":"0.18.0"},"orchestration":"kubernetes"}"#,
    )?;
    assert_eq!(
        (info.provider.as_str(), info.version.release.as_str()),
        ("faas-netes-ce", "0.18.0")
    );
    let v: Value = serde_json::to_value(&info)?;
    assert!(
        v["version"].get("commit_message").is_none(),
        "empty commit_message must be omitted"
    );
    assert_eq!(serde_json::from_value::<ProviderInfo>(v)?, info);
    Ok(())
}

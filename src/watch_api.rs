//! The pipeline's watch registry as the HTTP API's `WatchAdmin`.

use std::sync::Arc;

use serde_json::Value;
use yuqing_pipeline::{WatchError, WatchRegistry, WatchSpec};
use yuqing_server::{WatchAdmin, WatchRefusal};

/// `/api/v1/watches` over the running pipeline's watches.
pub struct WatchApi(pub Arc<WatchRegistry>);

impl WatchAdmin for WatchApi {
    fn list(&self) -> Vec<Value> {
        self.0
            .list()
            .into_iter()
            .map(|(spec, origin)| {
                let mut v = serde_json::to_value(spec).unwrap_or(Value::Null);
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        "origin".into(),
                        serde_json::to_value(origin).unwrap_or(Value::Null),
                    );
                }
                v
            })
            .collect()
    }

    fn create(&self, body: Value) -> Result<Value, WatchRefusal> {
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| "(unnamed)".to_string(), str::to_string);
        let spec: WatchSpec = serde_json::from_value(body)
            .map_err(|e| WatchRefusal::Invalid(format!("watch `{name}`: {e}")))?;
        let stored = self.0.create(spec).map_err(refusal)?;
        serde_json::to_value(stored).map_err(|e| WatchRefusal::Failed(e.to_string()))
    }

    fn delete(&self, name: &str) -> Result<(), WatchRefusal> {
        self.0.delete(name).map_err(refusal)
    }
}

fn refusal(e: WatchError) -> WatchRefusal {
    match e {
        WatchError::Invalid(m) => WatchRefusal::Invalid(m),
        WatchError::Exists(m) | WatchError::FromConfig(m) => WatchRefusal::Conflict(m),
        WatchError::NotFound(m) => WatchRefusal::NotFound(m),
        WatchError::Io(m) => WatchRefusal::Failed(m),
    }
}

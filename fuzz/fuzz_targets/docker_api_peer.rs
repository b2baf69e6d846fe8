//! docker-api's cluster mode: the JSON another node answers to `/api/containers?scope=local`
//! and `/api/aggregate?scope=local` (a peer may be broken or hostile), decoded and merged with
//! this node's answer as the cluster-wide views do. Properties: nothing panics, and the merged
//! answer serializes.
#![no_main]

use docker_api::merge::{self, NodeAnswer};
use docker_api::model::{Aggregate, ContainerList};
use libfuzzer_sys::fuzz_target;

fn answers<T: Clone>(body: T) -> Vec<NodeAnswer<T>> {
    let peer = |node: &str, address: &str| NodeAnswer {
        node: node.into(),
        address: address.into(),
        body: Ok(body.clone()),
    };
    vec![
        peer("local-node", "local"),
        peer("peer-a", "10.0.0.2:3001"),
        peer("peer-b", "10.0.0.3:3001"),
        NodeAnswer {
            node: "peer-c".into(),
            address: "10.0.0.4:3001".into(),
            body: Err("timed out".into()),
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = serde_json::from_slice::<ContainerList>(data) {
        let merged = merge::containers("local-node", answers(list));
        serde_json::to_vec(&merged).expect("a merged list serializes");
    }
    if let Ok(aggregate) = serde_json::from_slice::<Aggregate>(data) {
        let merged = merge::aggregate(
            "local-node",
            answers(aggregate),
            "2026-01-01T00:00:00Z".into(),
        );
        serde_json::to_vec(&merged).expect("a merged aggregate serializes");
    }
});

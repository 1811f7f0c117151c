//! geth's `txpool_*` namespace: what the pool holds, split as geth splits it into `pending`
//! (executable: no nonce gap before it) and `queued` (waiting behind a gap).

use serde_json::{Map, Value, json};

use super::{Eth, RpcResult, effective_gas_price, parse_address, qty, tx_json};

impl Eth<'_> {
    pub(super) fn txpool(&self, method: &str) -> RpcResult {
        let content = self.node.mempool().content();
        if method == "txpool_status" {
            let (mut pending, mut queued) = (0u64, 0u64);
            for (_, txs) in &content {
                for (_, executable) in txs {
                    *if *executable { &mut pending } else { &mut queued } += 1;
                }
            }
            return Ok(json!({ "pending": qty(pending), "queued": qty(queued) }));
        }
        let only = match method {
            "txpool_contentFrom" => Some(parse_address(self.param(0, "address")?, "address")?),
            _ => None,
        };
        let inspect = method == "txpool_inspect";
        let (mut pending, mut queued) = (Map::new(), Map::new());
        for (sender, txs) in content.iter().filter(|(s, _)| only.is_none_or(|o| o == *s)) {
            let (mut p, mut q) = (Map::new(), Map::new());
            for (ptx, executable) in txs {
                let tx = &ptx.tx;
                let entry = if inspect {
                    let call = tx.evm_call();
                    let to =
                        tx.to().map_or("contract creation".to_owned(), |a| a.to_checksum_hex());
                    Value::String(format!(
                        "{to}: {} wei + {} gas × {} wei",
                        call.as_ref().map_or(0, |c| c.value),
                        call.as_ref().map_or(0, |c| c.gas_limit),
                        effective_gas_price(tx, None),
                    ))
                } else {
                    tx_json(tx, &ptx.hash, None)
                };
                if *executable { &mut p } else { &mut q }.insert(tx.nonce().to_string(), entry);
            }
            let key = sender.to_checksum_hex();
            if only.is_some() {
                pending = p;
                queued = q;
            } else {
                if !p.is_empty() {
                    pending.insert(key.clone(), Value::Object(p));
                }
                if !q.is_empty() {
                    queued.insert(key, Value::Object(q));
                }
            }
        }
        Ok(json!({ "pending": pending, "queued": queued }))
    }
}

//! A receipt travels with a kill to every subscriber it is routed to; each holds its copy until
//! it is done with the kill (a webhook: delivered, or given up). When the last copy is dropped,
//! whoever routed the kill learns it was handled everywhere (cluster mode acknowledges the
//! shared log's entry only then, so a kill is never lost with the instance delivering it).

use std::sync::Arc;

use tokio::sync::oneshot;

#[derive(Clone, Debug)]
pub struct Receipt(#[allow(dead_code)] Arc<oneshot::Sender<()>>);

impl Receipt {
    /// A receipt, and what resolves when its last copy is dropped.
    pub fn new() -> (Self, oneshot::Receiver<()>) {
        let (done, handled) = oneshot::channel();
        (Self(Arc::new(done)), handled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_side_learns_when_every_copy_is_dropped() {
        let (receipt, mut handled) = Receipt::new();
        let copy = receipt.clone();
        drop(receipt);
        assert!(matches!(
            handled.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        drop(copy);
        assert!(matches!(
            handled.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
    }
}

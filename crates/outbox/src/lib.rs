//! The log is the outbox: the publisher that sends settlement-side events to NATS JetStream
//! from a durable cursor, and `gongji reconcile`, the reference consumer that checks the
//! stream against the log (and republishes what is missing).

pub mod publish;
pub mod reconcile;
pub mod replicate;

//! One file per family of actions. Each handler takes the decoded input and, through
//! `Call`, the gate's proof; none checks permissions itself.

pub mod messages;
pub mod moves;
pub mod queues;

//! The platform's REST API (`consortia platform`): requests and views, by area.

pub mod alerts;
pub mod assets;
pub mod chains;
pub mod consortiums;
pub mod contracts;
pub mod gateway;
pub mod governance;
pub mod identity;
pub mod keystore;
pub mod ledger;
pub mod monitoring;
pub mod nodes;
pub mod orgs;

pub use alerts::*;
pub use assets::*;
pub use chains::*;
pub use consortiums::*;
pub use contracts::*;
pub use gateway::*;
pub use governance::*;
pub use identity::*;
pub use keystore::*;
pub use ledger::*;
pub use monitoring::*;
pub use nodes::*;
pub use orgs::*;

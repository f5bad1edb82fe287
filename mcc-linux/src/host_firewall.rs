//! What mccd's sections share on the host: the one nftables table ([`crate::firewall`]) and
//! the interfaces' IPv4 forwarding ([`crate::ip_forwarding`]). Each section (external
//! tunnels, forwarding rules, ...) has a driver of its own, and each writes the whole table
//! with its section in it and claims the interfaces it needs under its name, so they must
//! hold the same `Table` and `IpForwarding`: two tables would replace each other's rules, two
//! forwarding states would restore each other's interfaces. One lock: the daemon's loop is
//! one task, the lock only makes the drivers `Send`.

use crate::firewall::{FirewallError, Table};
use crate::ip_forwarding::IpForwarding;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The table and the forwarding state.
pub struct HostFirewall {
    pub table: Table,
    pub forwarding: IpForwarding,
}

impl HostFirewall {
    /// Writes the table, or deletes it when no section is left (the last one to stop).
    pub fn write(&self) -> Result<(), FirewallError> {
        if self.table.is_empty() {
            self.table.delete()
        } else {
            self.table.apply()
        }
    }
}

/// A handle on the host's firewall state; clones share it.
#[derive(Clone)]
pub struct SharedFirewall(Arc<Mutex<HostFirewall>>);

impl SharedFirewall {
    /// Table `table` guarding the TUN device `tun`, forwarding state in `data_dir`. Made
    /// once per daemon: what a killed daemon left switched on is restored here.
    pub fn new(table: &str, tun: &str, data_dir: &Path) -> Self {
        SharedFirewall(Arc::new(Mutex::new(HostFirewall {
            table: Table::new(table, tun),
            forwarding: IpForwarding::new(data_dir),
        })))
    }

    /// Of a table and forwarding state made elsewhere (tests).
    #[cfg(test)]
    pub(crate) fn of(fw: HostFirewall) -> Self {
        SharedFirewall(Arc::new(Mutex::new(fw)))
    }

    pub fn lock(&self) -> MutexGuard<'_, HostFirewall> {
        // A panic while holding it leaves plain data; the next write replaces the table.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

//! Ports for nodes of this machine: a chosen port is checked to be free; others are picked at
//! random from [`RANGE`], just below Linux's ephemeral range (32768–60999) so that a node's
//! port is not one an outgoing connection may hold when the node restarts (and above the
//! 10000–30199 the test harnesses give `consortia net up`). A port handed out stays
//! reserved in this process for [`HOLD`], so two starts at once (or two hosts of one address)
//! never get the same one; the node binds it soon after.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand_core::{OsRng, RngCore};

use crate::{HostError, Wanted};

/// Where picked ports come from.
pub(crate) const RANGE: std::ops::Range<u16> = 30_200..32_700;
/// How long a port handed out is not handed out again.
const HOLD: Duration = Duration::from_secs(120);
/// How many random ports are tried for one pick.
const TRIES: usize = 200;

static HANDED_OUT: Mutex<Option<HashMap<(IpAddr, u16), Instant>>> = Mutex::new(None);

/// [`assign`]'s ports at `address`: what a host on its machine's network places nodes at.
pub(crate) fn place(address: IpAddr, wanted: &[Wanted]) -> Result<Vec<[SocketAddr; 2]>, HostError> {
    let wanted: Vec<[Option<u16>; 2]> = wanted.iter().map(|w| w.ports).collect();
    let ports = assign(address, &wanted)?;
    Ok(ports.into_iter().map(|p| p.map(|port| SocketAddr::new(address, port))).collect())
}

/// Ports on another machine (`address` is not this one's, so nothing can be checked here):
/// the chosen ones as they are, the others picked from [`RANGE`] among those not handed out.
pub(crate) fn place_elsewhere(
    address: IpAddr,
    wanted: &[Wanted],
) -> Result<Vec<[SocketAddr; 2]>, HostError> {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed = handed.get_or_insert_with(HashMap::new);
    handed.retain(|_, at| at.elapsed() < HOLD);
    let span = u32::from(RANGE.end - RANGE.start);
    let mut out = Vec::with_capacity(wanted.len());
    for node in wanted {
        let mut placed = [SocketAddr::new(address, 0); 2];
        for (slot, chosen) in placed.iter_mut().zip(&node.ports) {
            let port = match chosen {
                Some(port) => *port,
                None => (0..TRIES)
                    .map(|_| RANGE.start + (OsRng.next_u32() % span) as u16)
                    .find(|p| !handed.contains_key(&(address, *p)))
                    .ok_or_else(|| HostError::NoFreePorts {
                        address,
                        detail: "every port tried was handed out lately".into(),
                    })?,
            };
            handed.insert((address, port), Instant::now());
            slot.set_port(port);
        }
        out.push(placed);
    }
    Ok(out)
}

/// Chosen ports checked, the others picked; all bound together while choosing, so none is
/// given twice.
fn assign(address: IpAddr, wanted: &[[Option<u16>; 2]]) -> Result<Vec<[u16; 2]>, HostError> {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed = handed.get_or_insert_with(HashMap::new);
    handed.retain(|_, at| at.elapsed() < HOLD);
    let mut held = Vec::with_capacity(wanted.len() * 2);
    let mut out = Vec::with_capacity(wanted.len());
    for pair in wanted {
        let mut ports = [0; 2];
        for (slot, chosen) in ports.iter_mut().zip(pair) {
            let (port, listener) = match chosen {
                Some(port) => {
                    let listener = TcpListener::bind((address, *port)).map_err(|e| {
                        HostError::PortInUse { address, port: *port, detail: e.to_string() }
                    })?;
                    (*port, listener)
                }
                None => pick(address, handed)?,
            };
            handed.insert((address, port), Instant::now());
            held.push(listener);
            *slot = port;
        }
        out.push(ports);
    }
    Ok(out)
}

fn pick(
    address: IpAddr,
    handed: &HashMap<(IpAddr, u16), Instant>,
) -> Result<(u16, TcpListener), HostError> {
    let span = u32::from(RANGE.end - RANGE.start);
    let mut last = String::from("every port tried is taken");
    for _ in 0..TRIES {
        let port = RANGE.start + (OsRng.next_u32() % span) as u16;
        if handed.contains_key(&(address, port)) {
            continue;
        }
        match TcpListener::bind((address, port)) {
            Ok(listener) => return Ok((port, listener)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(HostError::NoFreePorts { address, detail: last })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn picked_ports_are_distinct_in_range_and_never_handed_out_twice() {
        let first = assign(LOOPBACK, &[[None, None]; 8]).unwrap();
        let second = assign(LOOPBACK, &[[None, None]; 8]).unwrap();
        let all: Vec<u16> = first.iter().chain(&second).flatten().copied().collect();
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len(), "{all:?}");
        assert!(all.iter().all(|p| RANGE.contains(p)), "{all:?}");
    }

    #[test]
    fn ports_on_another_machine_are_picked_without_binding_here() {
        let far = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 5));
        let wanted = |ports| Wanted { name: "n".into(), ports };
        let placed =
            place_elsewhere(far, &[wanted([Some(8545), None]), wanted([None, None])]).unwrap();
        assert_eq!(placed[0][0], SocketAddr::new(far, 8545));
        let picked: Vec<u16> = placed.iter().flatten().skip(1).map(|a| a.port()).collect();
        assert!(picked.iter().all(|p| RANGE.contains(p)), "{picked:?}");
        assert_eq!(picked.iter().collect::<HashSet<_>>().len(), 3, "{picked:?}");
    }

    #[test]
    fn a_chosen_port_is_kept_and_one_held_elsewhere_is_refused() {
        let holder = TcpListener::bind((LOOPBACK, 0)).unwrap();
        let busy = holder.local_addr().unwrap().port();
        let free = TcpListener::bind((LOOPBACK, 0)).unwrap().local_addr().unwrap().port();
        let got = assign(LOOPBACK, &[[Some(free), None]]).unwrap();
        assert_eq!(got[0][0], free);
        let err = assign(LOOPBACK, &[[Some(busy), None]]).unwrap_err();
        assert!(matches!(err, HostError::PortInUse { port, .. } if port == busy), "{err}");
        assert!(err.to_string().contains(&busy.to_string()));
    }
}

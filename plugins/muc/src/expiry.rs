//! Expiry of idle persistent rooms: a room nobody entered or talked in for the operator's
//! `room_expiry` (30 days by default) is destroyed with all its data, as if its owner had.
//!
//! The last activity (a join or a groupchat message) is a `kv` record of the room, written
//! coarsely: at most once per *step*, a tenth of `room_expiry` capped at one hour, so a busy
//! room costs one write an hour, not one per message. A room may therefore be destroyed up to
//! one step before `room_expiry` has fully passed since its very last message; with the
//! default that is an hour in 30 days. A room with occupants is never idle, and a room with no
//! record yet (created before this bookkeeping) starts its clock at the first sweep.
//!
//! The `expire` timer ticks every few seconds but sweeps at most once per step (the last sweep's
//! time is shared by the instances in `ephemeral`), reading one record per persistent room.
//! Temporary rooms need none of this: they end with their last occupant.

use tessera_sdk::{clock, ephemeral, log};

use crate::config::Settings;
use crate::ns;
use crate::occupant;
use crate::owner;
use crate::room::Room;
use crate::xml;

/// The timer's name.
pub(crate) const TIMER: &str = "expire";
/// The timer's period in seconds; the sweep itself runs at most once per step.
pub(crate) const TIMER_SECONDS: u32 = 5;
/// When the last sweep ran (ms), shared by the instances.
const LAST_SWEEP: &str = "expiry/last-sweep";

/// A tenth of `room_expiry`, from 1 s to 1 h.
pub(crate) fn step(s: &Settings) -> u64 {
    (s.room_expiry_ms / 10).clamp(1000, 3_600_000)
}

/// Notes activity in `room` now, if it is persistent and the last note is a step old.
pub(crate) fn touch(s: &Settings, room: &Room) {
    if !room.config.persistent {
        return;
    }
    let now = clock::now_ms();
    match room.last_active() {
        Ok(Some(t)) if now.saturating_sub(t) < step(s) => {}
        Ok(_) => {
            if let Err(e) = room.set_last_active(now) {
                log::warn(&format!(
                    "could not note activity in room {}: {e}",
                    room.jid
                ));
            }
        }
        Err(e) => log::warn(&format!(
            "could not read activity of room {}: {e}",
            room.jid
        )),
    }
}

/// The timer: destroys the persistent rooms idle for `room_expiry`; the number destroyed.
pub(crate) fn sweep(s: &Settings) -> usize {
    let now = clock::now_ms();
    let last = ephemeral::get(LAST_SWEEP)
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<u64>().ok());
    if last.is_some_and(|t| now.saturating_sub(t) < step(s)) {
        return 0;
    }
    if let Err(e) = ephemeral::set(LAST_SWEEP, now.to_string().as_bytes()) {
        log::warn(&format!("could not note the room expiry sweep: {e}"));
    }
    let rooms = match Room::persistent(s.max_rooms) {
        Ok(rooms) => rooms,
        Err(e) => {
            log::warn(&format!("could not list rooms to expire: {e}"));
            return 0;
        }
    };
    let mut destroyed = 0;
    for jid in rooms {
        let Ok(Some(room)) = Room::load(&jid) else {
            continue;
        };
        if !room.config.persistent {
            continue;
        }
        if occupant::count(&jid, 1) > 0 {
            touch(s, &room);
            continue;
        }
        let idle = match room.last_active() {
            Ok(Some(t)) => now.saturating_sub(t),
            Ok(None) => {
                // No record yet: the clock starts now.
                if let Err(e) = room.set_last_active(now) {
                    log::warn(&format!("could not note activity in room {jid}: {e}"));
                }
                continue;
            }
            Err(e) => {
                log::warn(&format!("could not read activity of room {jid}: {e}"));
                continue;
            }
        };
        if idle < s.room_expiry_ms {
            continue;
        }
        let request = xml::el("destroy", ns::MUC_OWNER, &[]);
        match owner::destroy(s, &room, &request) {
            Ok(()) => {
                destroyed += 1;
                log::info(&format!(
                    "room {jid} destroyed after {} s without activity",
                    idle / 1000
                ));
            }
            Err(e) => log::warn(&format!("could not destroy the idle room {jid}: {e}")),
        }
    }
    destroyed
}

//! One hub per worker thread: the registry's group for every WebSocket session on that thread.
//! A kill that reaches some of them is one message to the hub, which hands it to each session's
//! [`Live`] in turn: no message, wake-up or actor poll per session, and each frame encoded once
//! per thread (see [`super::frames::LivePayloads`]).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};

use ::actors::model::ids::IdMap;
use ::actors::registry::{Group, GroupPush};
use actix::prelude::*;

use super::live::Live;

/// The sessions of one thread, by member number.
type Members = Rc<RefCell<IdMap<u64, Weak<Live>>>>;

/// Tells the hubs of different threads apart.
static HUBS: AtomicUsize = AtomicUsize::new(0);

struct Hub {
    members: Members,
}

impl Actor for Hub {
    type Context = Context<Self>;
}

impl Handler<GroupPush> for Hub {
    type Result = ();

    fn handle(&mut self, push: GroupPush, _: &mut Context<Self>) {
        for member in &push.members {
            // Looked up one at a time: a delivery may cut a session, which leaves the table.
            let live = self.members.borrow().get(member).and_then(Weak::upgrade);
            if let Some(live) = live {
                live.deliver(&push.kill, push.system_count);
            }
        }
    }
}

/// This thread's hub: its address and group number, and its members.
struct Local {
    id: usize,
    addr: Addr<Hub>,
    members: Members,
    next_member: Cell<u64>,
}

thread_local! {
    static LOCAL: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
}

/// The hub of the current thread, started on first use (and again if its system was stopped).
fn local() -> Rc<Local> {
    LOCAL.with_borrow_mut(|local| match local {
        Some(hub) if hub.addr.connected() => Rc::clone(hub),
        _ => {
            let members = Members::default();
            let addr = Hub {
                members: Rc::clone(&members),
            }
            .start();
            let hub = Rc::new(Local {
                id: HUBS.fetch_add(1, Ordering::Relaxed),
                addr,
                members,
                next_member: Cell::new(0),
            });
            *local = Some(Rc::clone(&hub));
            hub
        }
    })
}

/// A session's place in its thread's hub, for as long as it is held.
pub struct Membership {
    hub: Rc<Local>,
    member: u64,
}

impl Membership {
    /// Makes `live` a member of this thread's hub.
    pub fn join(live: &Rc<Live>) -> Self {
        let hub = local();
        let member = hub.next_member.get() + 1;
        hub.next_member.set(member);
        hub.members.borrow_mut().insert(member, Rc::downgrade(live));
        Self { hub, member }
    }

    /// What the registry needs to reach this member.
    pub fn group(&self) -> Group {
        Group {
            inbox: self.hub.addr.clone().recipient(),
            id: self.hub.id,
            member: self.member,
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.members.borrow_mut().remove(&self.member);
    }
}

//! Subscribers that share one inbox. The WebSocket sessions of one worker thread register as
//! members of that thread's group: a kill that reaches any of them costs one message to the
//! group, listing the members it reaches, instead of one message per subscriber.

use std::sync::Arc;

use actix::prelude::*;

use super::Receipt;
use crate::model::StoredKill;

/// Where a grouped subscriber's kills go: its group's inbox, under its member number there.
#[derive(Clone)]
pub struct Group {
    pub inbox: Recipient<GroupPush>,
    /// Tells groups apart (one per worker thread).
    pub id: usize,
    /// The subscriber within its group.
    pub member: u64,
}

/// A stored kill for some members of one group; `system_count` is the system's stored count.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct GroupPush {
    pub kill: Arc<StoredKill>,
    pub system_count: usize,
    pub members: Vec<u64>,
    /// Held until the group is done with the kill (cluster mode).
    pub receipt: Option<Receipt>,
}

/// The groups one kill reaches, with their members, gathered while the kill is routed.
#[derive(Default)]
pub(super) struct Fanout {
    groups: Vec<(Group, Vec<u64>)>,
}

impl Fanout {
    pub fn add(&mut self, group: &Group) {
        match self.groups.iter_mut().find(|(g, _)| g.id == group.id) {
            Some((_, members)) => members.push(group.member),
            None => self.groups.push((group.clone(), vec![group.member])),
        }
    }

    /// Sends each group its one message; answers how many subscribers that reached.
    pub fn send(
        &mut self,
        kill: &Arc<StoredKill>,
        system_count: usize,
        receipt: &Option<Receipt>,
    ) -> u64 {
        let mut reached = 0;
        for (group, members) in self.groups.drain(..) {
            reached += members.len() as u64;
            group.inbox.do_send(GroupPush {
                kill: Arc::clone(kill),
                system_count,
                members,
                receipt: receipt.clone(),
            });
        }
        reached
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::model::{KillTime, Killmail, KillmailId, SystemId};
    use crate::registry::{Channel, Filter, KillStored, Push, Registry, Subscribe};

    /// Records what reaches it.
    struct Probe<M>(mpsc::Sender<M>);

    impl<M: 'static> Actor for Probe<M> {
        type Context = Context<Self>;
    }

    impl Handler<GroupPush> for Probe<GroupPush> {
        type Result = ();
        fn handle(&mut self, push: GroupPush, _: &mut Context<Self>) {
            let _ = self.0.send(push);
        }
    }

    impl Handler<Push> for Probe<Push> {
        type Result = ();
        fn handle(&mut self, push: Push, _: &mut Context<Self>) {
            let _ = self.0.send(push);
        }
    }

    fn kill_in(system: u64) -> Arc<StoredKill> {
        let killmail = Killmail::bare(
            KillmailId::new(7).expect("non-zero"),
            KillTime::now(),
            SystemId::new(system).expect("non-zero"),
        );
        Arc::new(StoredKill::new(1, &killmail))
    }

    fn following(system: u64) -> Filter {
        Filter {
            systems: SystemId::new(system).into_iter().collect(),
            ..Filter::default()
        }
    }

    fn subscribe(recipient: Recipient<Push>, group: Option<Group>, filter: Filter) -> Subscribe {
        Subscribe {
            key: None,
            recipient,
            group,
            filter,
            channel: Channel::Websocket,
            subscription_id: "s".into(),
            subscriber: "c".into(),
            callback_url: None,
            format: None,
            created_at: None,
        }
    }

    #[actix::test]
    async fn a_kill_is_one_message_per_group_naming_the_members_it_reaches() {
        let registry = Registry::default().start();
        let (groups_tx, groups) = mpsc::channel();
        let (direct_tx, direct) = mpsc::channel();
        let direct_probe = Probe(direct_tx).start();
        let inboxes: Vec<Recipient<GroupPush>> = (0..2)
            .map(|_| Probe(groups_tx.clone()).start().recipient())
            .collect();
        let member = |id: usize, member: u64| Group {
            inbox: inboxes[id].clone(),
            id,
            member,
        };
        let none = direct_probe.clone().recipient();
        // Group 0: members 1 and 2 follow the kill's system, 3 another one. Group 1: member 9.
        for (group, filter) in [
            (member(0, 1), following(30000142)),
            (member(0, 2), following(30000142)),
            (member(0, 3), following(30002187)),
            (member(1, 9), following(30000142)),
        ] {
            registry
                .send(subscribe(none.clone(), Some(group), filter))
                .await
                .expect("registry answers");
        }
        let direct_filter = following(30000142);
        registry
            .send(subscribe(direct_probe.recipient(), None, direct_filter))
            .await
            .expect("registry answers");

        registry
            .send(KillStored {
                kill: kill_in(30000142),
                system_count: 4,
                receipt: None,
            })
            .await
            .expect("registry answers");
        let stats = registry
            .send(crate::registry::GetStats)
            .await
            .expect("stats");
        actix::clock::sleep(std::time::Duration::from_millis(50)).await;

        let mut got: Vec<(usize, Vec<u64>)> = groups
            .try_iter()
            .map(|p: GroupPush| (p.system_count, p.members))
            .collect();
        got.sort();
        assert_eq!(got, [(4, vec![1, 2]), (4, vec![9])]);
        assert_eq!(
            direct.try_iter().count(),
            1,
            "the direct subscriber, as before"
        );
        assert_eq!(stats.pushed, 4, "every subscriber reached is counted");
    }
}

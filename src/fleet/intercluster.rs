//! Users spread over several deployments (intercluster): a fleet's `deployment` names the
//! node its users belong to and log in to. In a federation every node is a deployment with
//! its own domain, so those users' JIDs carry that domain; `pairs = "across"` pairs user i of
//! each fleet with user i of the next fleet, and messages between users of different domains
//! are measured as their own operation ([`Op::RemoteMessage`]), apart from local ones.

use super::User;
use crate::metrics::Op;
use crate::proto::xmpp::Jid;
use crate::scenario::suite::Suite;
use crate::scenario::{Endpoint, TargetPlan};

/// The XMPP domain of each node of `target`: one per deployment of a federation, else the
/// target's domain for every node.
pub fn node_domains(target: &TargetPlan) -> Vec<String> {
    match &target.endpoint {
        Endpoint::Managed(_) => {
            crate::target::layout_domains(target.layout, &target.domain, target.layout_nodes)
        }
        Endpoint::External { .. } => vec![target.domain.clone(); target.nodes.len().max(1)],
    }
}

/// The node a user of node `node` moves to when it loses its server: the next node (in
/// list order, around) serving the same domain, so recovery keeps a deployment's users on
/// that deployment's nodes (a `federation-standby`: node 0 → node 2 → node 0). `domains`
/// has one entry per node, or is empty when every node serves one domain.
pub fn next_in_group(domains: &[String], nodes: usize, node: usize) -> usize {
    let n = nodes.max(1);
    let Some(mine) = domains.get(node).filter(|_| domains.len() == n) else {
        return (node + 1) % n;
    };
    (1..=n)
        .map(|k| (node + k) % n)
        .find(|&j| &domains[j] == mine)
        .unwrap_or(node)
}

/// Puts the users of fleets with a `deployment` on that node, in that node's domain.
/// `domains` has one entry per node ([`node_domains`]); a fleet naming a node the target
/// does not have is an error naming the fleet.
pub fn place(suite: &Suite, users: &mut [User], domains: &[String]) -> Result<(), String> {
    for (fi, f) in suite.fleets.iter().enumerate() {
        let Some(k) = f.deployment else { continue };
        let Some(domain) = domains.get(k) else {
            return Err(format!(
                "fleet `{}`: field `deployment` = {k}, but the target has {} node(s) \
                 (numbered from 0)",
                f.name,
                domains.len()
            ));
        };
        for u in users.iter_mut().filter(|u| u.fleet == fi) {
            u.node = k;
            u.bare = Jid::new(Some(&u.account), domain, None).map_err(|e| {
                format!(
                    "fleet `{}`: {}@{domain} is not a valid JID: {e}",
                    f.name, u.account
                )
            })?;
        }
    }
    Ok(())
}

/// The node `u` is fixed to by its fleet's `deployment` (a placement policy leaves it
/// there), if any.
pub fn pinned(suite: &Suite, u: &User) -> Option<usize> {
    suite.fleets.get(u.fleet).and_then(|f| f.deployment)
}

/// Partners of user `i` of fleet `j` for `pairs = "across"`: user `i` of the next fleet
/// and of the previous one (fleets in suite order, around; the first is where messages
/// go). A fleet too small to have user `i` contributes none.
pub fn across(fleets: &[&Vec<usize>], j: usize, i: usize) -> Vec<usize> {
    let m = fleets.len();
    if m < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for f in [(j + 1) % m, (j + m - 1) % m] {
        if let Some(&g) = fleets[f].get(i)
            && !out.contains(&g)
        {
            out.push(g);
        }
    }
    out
}

/// The operation a message from `from` to `to` is measured as: [`Op::RemoteMessage`]
/// across domains (over s2s), [`Op::Message`] within one.
pub fn message_op(from: &Jid, to: &Jid) -> Op {
    if from.domain() == to.domain() {
        Op::Message
    } else {
        Op::RemoteMessage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn across_pairs_user_i_of_neighbouring_fleets() {
        let (a, b, c) = (vec![0, 1, 2], vec![3, 4], vec![5, 6, 7]);
        assert_eq!(across(&[&a, &b], 0, 1), vec![4]);
        assert_eq!(across(&[&a, &b], 1, 0), vec![0]);
        assert!(across(&[&a, &b], 0, 2).is_empty());
        assert_eq!(across(&[&a, &b, &c], 0, 0), vec![3, 5]);
        assert!(across(&[&a], 0, 0).is_empty());
    }

    #[test]
    fn recovery_stays_within_a_deployment() {
        let d = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let standby = d(&["a", "b", "a"]);
        assert_eq!(next_in_group(&standby, 3, 0), 2);
        assert_eq!(next_in_group(&standby, 3, 2), 0);
        assert_eq!(next_in_group(&standby, 3, 1), 1);
        assert_eq!(next_in_group(&[], 2, 1), 0);
        assert_eq!(next_in_group(&d(&["x", "x"]), 2, 0), 1);
    }

    #[test]
    fn messages_across_domains_are_remote() {
        let j = |d: &str| Jid::new(Some("u"), d, None).expect("jid");
        assert_eq!(
            message_op(&j("a.example.test"), &j("b.example.test")),
            Op::RemoteMessage
        );
        assert_eq!(
            message_op(&j("a.example.test"), &j("a.example.test")),
            Op::Message
        );
    }
}

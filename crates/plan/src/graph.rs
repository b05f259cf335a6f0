//! The service dependency graph: callers before callees.
//!
//! Target decomposition pushes rates from callers to callees and the
//! validator must reject cycles by naming them, so both need one
//! topological order computed once over index-based adjacency lists (plans
//! with tens of thousands of edges stay fast).

use std::collections::HashMap;

use crate::model::Service;
use indexmap::IndexMap;

/// Index-based view of the services and their edges to other services
/// (edges to partners are kept aside: partners are sinks).
#[derive(Debug, Clone)]
pub struct Graph<'p> {
    /// Service ids, in plan order; a node's index is its position here.
    pub ids: Vec<&'p str>,
    /// Index of each id.
    pub index: HashMap<&'p str, usize>,
    /// For each service, `(callee index, edge index in its dependencies)`
    /// for edges that go to services.
    pub out: Vec<Vec<(usize, usize)>>,
}

impl<'p> Graph<'p> {
    /// Build the graph; edges to unknown ids (partners, or dangling names the
    /// validator reports) are left out.
    pub fn new(services: &'p IndexMap<String, Service>) -> Self {
        let ids: Vec<&str> = services.keys().map(String::as_str).collect();
        let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        let out = services
            .values()
            .map(|s| {
                s.dependencies
                    .iter()
                    .enumerate()
                    .filter_map(|(ei, e)| index.get(e.to.as_str()).map(|&t| (t, ei)))
                    .collect()
            })
            .collect();
        Graph { ids, index, out }
    }

    /// Service indices with every caller before its callees, or the first
    /// cycle found as a list of ids that starts and ends with the same id.
    pub fn topo_order(&self) -> Result<Vec<usize>, Vec<String>> {
        // Iterative DFS with colours: 0 white, 1 on stack, 2 done.
        let n = self.ids.len();
        let mut colour = vec![0u8; n];
        let mut post = Vec::with_capacity(n);
        let mut parent = vec![usize::MAX; n];
        for root in 0..n {
            if colour[root] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            colour[root] = 1;
            while let Some(&mut (v, ref mut next)) = stack.last_mut() {
                if let Some(&(w, _)) = self.out[v].get(*next) {
                    *next += 1;
                    match colour[w] {
                        0 => {
                            colour[w] = 1;
                            parent[w] = v;
                            stack.push((w, 0));
                        }
                        1 => {
                            // Back edge v → w: the cycle is w … v → w.
                            let mut cycle = vec![self.ids[w].to_string()];
                            let mut path = Vec::new();
                            let mut u = v;
                            while u != w {
                                path.push(self.ids[u].to_string());
                                u = parent[u];
                            }
                            path.reverse();
                            cycle.extend(path);
                            cycle.push(self.ids[w].to_string());
                            return Err(cycle);
                        }
                        _ => {}
                    }
                } else {
                    colour[v] = 2;
                    post.push(v);
                    stack.pop();
                }
            }
        }
        post.reverse();
        Ok(post)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Edge, Service};

    fn svc(deps: &[&str]) -> Service {
        Service {
            dependencies: deps
                .iter()
                .map(|d| Edge {
                    to: d.to_string(),
                    calls: 1.0,
                    ..Edge::default()
                })
                .collect(),
            ..Service::default()
        }
    }

    #[test]
    fn orders_callers_first() {
        let mut s = IndexMap::new();
        s.insert("c".to_string(), svc(&[]));
        s.insert("a".to_string(), svc(&["b", "c", "partner"]));
        s.insert("b".to_string(), svc(&["c"]));
        let g = Graph::new(&s);
        let order: Vec<&str> = g
            .topo_order()
            .expect("acyclic")
            .into_iter()
            .map(|i| g.ids[i])
            .collect();
        let pos = |x: &str| order.iter().position(|y| *y == x).expect("present");
        assert!(pos("a") < pos("b") && pos("b") < pos("c"), "{order:?}");
    }

    #[test]
    fn names_the_cycle() {
        let mut s = IndexMap::new();
        s.insert("a".to_string(), svc(&["b"]));
        s.insert("b".to_string(), svc(&["c"]));
        s.insert("c".to_string(), svc(&["a"]));
        let cycle = Graph::new(&s).topo_order().expect_err("cyclic");
        assert_eq!(cycle, ["a", "b", "c", "a"]);
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let mut s = IndexMap::new();
        s.insert("a".to_string(), svc(&["a"]));
        let cycle = Graph::new(&s).topo_order().expect_err("cyclic");
        assert_eq!(cycle, ["a", "a"]);
    }
}

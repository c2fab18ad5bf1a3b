"""File-level dependency graph of one repository: deterministic topological order and components.

``edges[f]`` is the set of files ``f`` depends on. Cycles are broken by condensing strongly connected
components (Tarjan); components are emitted dependencies first, ready ties broken by their smallest path,
and the files of one component are ordered by path.
"""

from __future__ import annotations

import heapq


def strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; each component sorted by path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(sorted(component))
    return out


def topological_order(nodes: list[str], edges: dict[str, set[str]]) -> tuple[list[str], list[list[str]]]:
    """Files with their dependencies first; returns (order, the cycles found, i.e. components of size > 1)."""
    components = strongly_connected(nodes, edges)
    comp_of = {node: i for i, comp in enumerate(components) for node in comp}
    depends: list[set[int]] = [set() for _ in components]
    users: list[set[int]] = [set() for _ in components]
    for node in nodes:
        for dep in edges.get(node, ()):
            a, b = comp_of[node], comp_of[dep]
            if a != b:
                depends[a].add(b)
                users[b].add(a)
    remaining = [len(d) for d in depends]
    ready = [(components[i][0], i) for i in range(len(components)) if remaining[i] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, i = heapq.heappop(ready)
        order.extend(components[i])
        for user in users[i]:
            remaining[user] -= 1
            if remaining[user] == 0:
                heapq.heappush(ready, (components[user][0], user))
    return order, [c for c in components if len(c) > 1]


def weak_components(order: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Weakly connected components, each in the given order, listed by their first file in that order."""
    parent = {node: node for node in order}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for node in order:
        for dep in edges.get(node, ()):
            if dep in parent:
                a, b = find(node), find(dep)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for node in order:
        groups.setdefault(find(node), []).append(node)
    return list(groups.values())

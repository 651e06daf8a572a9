// The node tree of src/host/node.ts on its own (docs/path-tracking.md): the
// bookkeeping that gives a file its current parent and name after RenameAt
// and UnlinkAt, checked without a host file system. The host side (a rename
// seen through FDs walked before it) is in tests/dirs.test.ts.
import { describe, expect, test } from "bun:test";
import { Node } from "../src/host/node";

/** root/a/b/c, each held by one open file (as HostFile.acquire does). */
function chain(root: Node, ...names: string[]): Node[] {
  const out: Node[] = [];
  let n = root;
  for (const name of names) {
    n = n.child(name);
    n.acquire();
    out.push(n);
  }
  return out;
}

describe("lookups", () => {
  test("child is made once and found again; lookup never makes one", () => {
    const root = Node.root();
    expect(root.lookup("a")).toBeUndefined();
    expect(root.children).toBeNull();
    const a = root.child("a");
    expect(root.child("a")).toBe(a);
    expect(root.lookup("a")).toBe(a);
    expect(a.parent).toBe(root);
    expect(a.lookup("b")).toBeUndefined();
    expect(a.children).toBeNull();
  });

  test("names are byte strings, kept exactly", () => {
    const root = Node.root();
    const odd = "\xff\x80 n\u00e9\x01";
    const [n] = chain(root, odd);
    expect(root.lookup(odd)).toBe(n);
    expect(root.lookup("\xff\x80 n\u00e9")).toBeUndefined();
    expect(n.pathFrom(root)).toEqual([odd]);
  });

  test("pathFrom, isBelow and path name the node from an ancestor down", () => {
    const root = Node.root();
    const [a, b, c] = chain(root, "a", "b", "c");
    expect(c.pathFrom(root)).toEqual(["a", "b", "c"]);
    expect(c.pathFrom(a)).toEqual(["b", "c"]);
    expect(b.pathFrom(b)).toEqual([]);
    expect(a.pathFrom(c)).toBeNull();
    expect(c.isBelow(root)).toBe(true);
    expect(c.isBelow(b)).toBe(true);
    expect(b.isBelow(c)).toBe(false);
    // A node is not below itself (a mount point has no parent inside its mount).
    expect(b.isBelow(b)).toBe(false);
    expect(c.path()).toBe("/a/b/c");
    expect(root.path()).toBe("/");
  });

  test("a subtree root other than the tree's root works as an ancestor (a mount below /)", () => {
    const root = Node.root();
    const [, mnt, f] = chain(root, "srv", "export", "f");
    expect(f.pathFrom(mnt)).toEqual(["f"]);
    const [other] = chain(root, "other");
    expect(other.pathFrom(mnt)).toBeNull();
    expect(other.isBelow(mnt)).toBe(false);
  });
});

describe("references and pruning", () => {
  test("a node nobody holds is pruned, with every ancestor left without users or children", () => {
    const root = Node.root();
    const [a, b, c] = chain(root, "a", "b", "c");
    c.release();
    expect(b.lookup("c")).toBeUndefined();
    expect(c.parent).toBeNull();
    // b is still held.
    expect(a.lookup("b")).toBe(b);
    b.release();
    a.release();
    expect(root.children?.size).toBe(0);
    expect(a.parent).toBeNull();
  });

  test("an unheld ancestor stays while a descendant is held", () => {
    const root = Node.root();
    const a = root.child("a"); // walked through, never held itself
    const b = a.child("b");
    b.acquire();
    b.acquire();
    b.release();
    expect(root.lookup("a")).toBe(a);
    expect(a.lookup("b")).toBe(b);
    b.release();
    expect(root.lookup("a")).toBeUndefined();
  });

  test("the root is never pruned", () => {
    const root = Node.root();
    root.acquire();
    root.release();
    expect(root.parent).toBeNull();
    const [a] = chain(root, "a");
    a.release();
    expect(root.children?.size).toBe(0);
    // Still usable.
    expect(root.child("a")).not.toBe(a);
  });

  test("a pruned name gets a fresh node on its next walk", () => {
    const root = Node.root();
    const [a] = chain(root, "a");
    a.release();
    const again = root.child("a");
    expect(again).not.toBe(a);
    expect(again.pathFrom(root)).toEqual(["a"]);
  });

  test("dirFd is the first held FD still open, -1 when none", () => {
    const root = Node.root();
    const [d] = chain(root, "d");
    expect(d.dirFd).toBe(-1);
    d.addDirFd(7);
    d.addDirFd(9);
    expect(d.dirFd).toBe(7);
    d.removeDirFd(7);
    expect(d.dirFd).toBe(9);
    d.removeDirFd(42); // not held: nothing changes
    expect(d.dirFd).toBe(9);
    d.removeDirFd(9);
    expect(d.dirFd).toBe(-1);
  });
});

describe("unlinks", () => {
  test("removeChild marks the whole subtree deleted and unlinks it", () => {
    const root = Node.root();
    const [a, b, c] = chain(root, "a", "b", "c");
    const [x] = chain(a, "x");
    a.removeChild("b");
    expect(a.lookup("b")).toBeUndefined();
    expect(b.deleted).toBe(true);
    expect(c.deleted).toBe(true);
    expect(b.parent).toBeNull();
    expect(c.pathFrom(root)).toBeNull();
    expect(c.isBelow(root)).toBe(false);
    // A sibling is untouched.
    expect(x.deleted).toBe(false);
    expect(x.pathFrom(root)).toEqual(["a", "x"]);
  });

  test("a new file under the old name is a new node, not the deleted one", () => {
    const root = Node.root();
    const [a, b] = chain(root, "a", "b");
    a.removeChild("b");
    const b2 = a.child("b");
    expect(b2).not.toBe(b);
    expect(b2.deleted).toBe(false);
    expect(b2.pathFrom(root)).toEqual(["a", "b"]);
  });

  test("removing a name the tree does not know changes nothing", () => {
    const root = Node.root();
    const [a, b] = chain(root, "a", "b");
    a.removeChild("nope");
    root.removeChild("b");
    expect(b.pathFrom(root)).toEqual(["a", "b"]);
    expect(a.deleted || b.deleted).toBe(false);
  });

  test("the directory an unlink emptied is pruned if nobody holds it", () => {
    const root = Node.root();
    const a = root.child("a");
    const [b] = chain(a, "b");
    a.removeChild("b");
    expect(root.lookup("a")).toBeUndefined();
    // The deleted node's last release is harmless.
    b.release();
    expect(b.users).toBe(0);
  });
});

describe("renames", () => {
  test("a renamed directory carries every file below it", () => {
    const root = Node.root();
    const [a, b, c] = chain(root, "a", "b", "c");
    const [z] = chain(root, "z");
    a.renameChild("b", z, "moved");
    expect(a.lookup("b")).toBeUndefined();
    expect(z.lookup("moved")).toBe(b);
    expect(b.name).toBe("moved");
    expect(b.parent).toBe(z);
    expect(c.pathFrom(root)).toEqual(["z", "moved", "c"]);
    expect(c.isBelow(z)).toBe(true);
    expect(c.isBelow(a)).toBe(false);
    expect(c.deleted).toBe(false);
  });

  test("a rename within one directory changes the name only", () => {
    const root = Node.root();
    const [d, f] = chain(root, "d", "old");
    d.renameChild("old", d, "new");
    expect(d.lookup("old")).toBeUndefined();
    expect(d.lookup("new")).toBe(f);
    expect(f.pathFrom(root)).toEqual(["d", "new"]);
  });

  test("the target a rename replaced is deleted, with its subtree", () => {
    const root = Node.root();
    const [d, src] = chain(root, "d", "src");
    const [dst, inner] = chain(d, "dst", "inner");
    d.renameChild("src", d, "dst");
    expect(d.lookup("dst")).toBe(src);
    expect(dst.deleted).toBe(true);
    expect(inner.deleted).toBe(true);
    expect(dst.parent).toBeNull();
    expect(inner.pathFrom(root)).toBeNull();
    expect(src.deleted).toBe(false);
    expect(src.pathFrom(root)).toEqual(["d", "dst"]);
  });

  test("renaming an unknown name over a known one still deletes the known one", () => {
    const root = Node.root();
    const [d, t] = chain(root, "d", "t");
    d.renameChild("never-walked", d, "t");
    expect(t.deleted).toBe(true);
    expect(d.lookup("t")).toBeUndefined();
  });

  test("a rename onto itself is a no-op", () => {
    const root = Node.root();
    const [d, f] = chain(root, "d", "f");
    d.renameChild("f", d, "f");
    expect(f.deleted).toBe(false);
    expect(d.lookup("f")).toBe(f);
  });

  test("the old parent is pruned when the rename took its last child and nobody holds it", () => {
    const root = Node.root();
    const from = root.child("from"); // not held
    const [f] = chain(from, "f");
    const [to] = chain(root, "to");
    from.renameChild("f", to, "f");
    expect(root.lookup("from")).toBeUndefined();
    expect(f.pathFrom(root)).toEqual(["to", "f"]);
    // And the moved node prunes along its new parents on release.
    f.release();
    expect(to.lookup("f")).toBeUndefined();
    expect(root.lookup("to")).toBe(to);
  });

  test("renames in a row: every node follows the last one", () => {
    const root = Node.root();
    const [a, b, c] = chain(root, "a", "b", "c");
    const [x] = chain(root, "x");
    root.renameChild("a", x, "a1"); // /x/a1/b/c
    b.renameChild("c", root, "c1"); // /c1
    x.renameChild("a1", root, "a2"); // /a2/b
    expect(a.pathFrom(root)).toEqual(["a2"]);
    expect(b.pathFrom(root)).toEqual(["a2", "b"]);
    expect(c.pathFrom(root)).toEqual(["c1"]);
    expect(x.children?.size ?? 0).toBe(0);
  });
});

describe("exchanges (RENAME_EXCHANGE)", () => {
  test("the two entries swap parents and names, subtrees along", () => {
    const root = Node.root();
    const [p, a, a1] = chain(root, "p", "a", "a1");
    const [q, b] = chain(root, "q", "b");
    p.exchangeChild("a", q, "b");
    expect(p.lookup("a")).toBe(b);
    expect(q.lookup("b")).toBe(a);
    expect(a.pathFrom(root)).toEqual(["q", "b"]);
    expect(a1.pathFrom(root)).toEqual(["q", "b", "a1"]);
    expect(b.pathFrom(root)).toEqual(["p", "a"]);
    expect(a.deleted || b.deleted || a1.deleted).toBe(false);
  });

  test("with one side unknown to the tree, the known one moves alone", () => {
    const root = Node.root();
    const [p, a] = chain(root, "p", "a");
    const [q] = chain(root, "q");
    p.exchangeChild("a", q, "unknown");
    expect(p.lookup("a")).toBeUndefined();
    expect(q.lookup("unknown")).toBe(a);
    expect(a.pathFrom(root)).toEqual(["q", "unknown"]);
    q.exchangeChild("nothing", p, "nothing-either");
    expect(a.pathFrom(root)).toEqual(["q", "unknown"]);
  });

  test("within one directory, an exchange swaps the names", () => {
    const root = Node.root();
    const d = root.child("d");
    const [x] = chain(d, "x");
    const [y] = chain(d, "y");
    d.exchangeChild("x", d, "y");
    expect(d.lookup("x")).toBe(y);
    expect(d.lookup("y")).toBe(x);
    expect(x.name).toBe("y");
    expect(y.name).toBe("x");
    d.exchangeChild("x", d, "x");
    expect(d.lookup("x")).toBe(y);
  });
});

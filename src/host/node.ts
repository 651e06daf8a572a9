// The node tree: one Node per host path that some open file refers to, so the
// gofer knows each file's current name and parent even after RenameAt moves a
// directory above it. Paths are needed only where Linux offers no fd-relative
// call (connect/bind on a socket file, utimensat on a symlink, linkat of a
// file by its parent); everything else goes through the file's own host FD.
//
// Names are byte strings (each char one byte, latin1) so any name the host or
// client uses round-trips exactly.

export class Node {
  name: string;
  parent: Node | null;
  children: Map<string, Node> | null = null;
  deleted = false;
  /** Open files (of any connection) on this node. */
  users = 0;
  /** For a directory: the FDs those open files hold, each a dirfd for `*at`
   * calls on its children while its file stays open. */
  private dirFds: number[] | null = null;

  /** A held FD of this directory, or -1 if no open file holds one. */
  get dirFd(): number {
    return this.dirFds !== null && this.dirFds.length > 0 ? this.dirFds[0] : -1;
  }

  addDirFd(fd: number): void {
    (this.dirFds ??= []).push(fd);
  }

  removeDirFd(fd: number): void {
    const i = this.dirFds?.indexOf(fd) ?? -1;
    if (i >= 0) this.dirFds!.splice(i, 1);
  }

  constructor(name: string, parent: Node | null) {
    this.name = name;
    this.parent = parent;
    if (parent) {
      if (!parent.children) parent.children = new Map();
      parent.children.set(name, this);
    }
  }

  static root(): Node {
    return new Node("/", null);
  }

  /** The child called `name`, created on first use. */
  child(name: string): Node {
    const existing = this.children?.get(name);
    return existing ?? new Node(name, this);
  }

  lookup(name: string): Node | undefined {
    return this.children?.get(name);
  }

  acquire(): void {
    this.users++;
  }

  /** Drops a user; prunes nodes nobody refers to any more. */
  release(): void {
    this.users--;
    this.prune();
  }

  private prune(): void {
    let n: Node | null = this;
    while (n && n.parent && n.users === 0 && (!n.children || n.children.size === 0)) {
      const p: Node = n.parent;
      if (p.children?.get(n.name) === n) p.children.delete(n.name);
      n.parent = null;
      n = p;
    }
  }

  /** Names from `ancestor` (exclusive) down to this node, or null if this node
   * is not below `ancestor` (e.g. it was deleted or is the ancestor itself). */
  pathFrom(ancestor: Node): string[] | null {
    const names: string[] = [];
    let n: Node | null = this;
    while (n && n !== ancestor) {
      if (n.deleted || !n.parent) return null;
      names.push(n.name);
      n = n.parent;
    }
    if (n !== ancestor) return null;
    return names.reverse();
  }

  /** Whether this node is still linked below `ancestor` (not the ancestor
   * itself). pathFrom without the names. */
  isBelow(ancestor: Node): boolean {
    let n: Node | null = this;
    while (n && n !== ancestor) {
      if (n.deleted || !n.parent) return false;
      n = n.parent;
    }
    return n === ancestor && this !== ancestor;
  }

  /** Absolute path (for logs). */
  path(): string {
    const names: string[] = [];
    for (let n: Node | null = this; n && n.parent; n = n.parent) names.push(n.name);
    return "/" + names.reverse().join("/");
  }

  /** Marks this subtree deleted (after unlink, or when a rename replaced it). */
  markDeleted(): void {
    this.deleted = true;
    if (this.children) for (const c of this.children.values()) c.markDeleted();
  }

  /** Unlink of `name` below this directory succeeded. */
  removeChild(name: string): void {
    const c = this.children?.get(name);
    if (!c) return;
    this.children!.delete(name);
    c.parent = null;
    c.markDeleted();
    this.prune();
  }

  /** RenameAt(this/oldName -> newDir/newName) succeeded on the host. */
  renameChild(oldName: string, newDir: Node, newName: string): void {
    if (newDir === this && oldName === newName) return;
    const replaced = newDir.children?.get(newName);
    if (replaced) {
      newDir.children!.delete(newName);
      replaced.parent = null;
      replaced.markDeleted();
    }
    const moved = this.children?.get(oldName);
    if (!moved) return;
    this.children!.delete(oldName);
    moved.name = newName;
    moved.parent = newDir;
    if (!newDir.children) newDir.children = new Map();
    newDir.children.set(newName, moved);
    this.prune();
  }

  /** renameat2(this/oldName, newDir/newName, RENAME_EXCHANGE) succeeded on
   * the host: the two entries swapped places, so each node known for them
   * takes the other's parent and name (and every file below goes along). */
  exchangeChild(oldName: string, newDir: Node, newName: string): void {
    if (newDir === this && oldName === newName) return;
    const a = this.children?.get(oldName);
    const b = newDir.children?.get(newName);
    if (a) this.children!.delete(oldName);
    if (b) newDir.children!.delete(newName);
    if (b) {
      b.name = oldName;
      b.parent = this;
      (this.children ??= new Map()).set(oldName, b);
    }
    if (a) {
      a.name = newName;
      a.parent = newDir;
      (newDir.children ??= new Map()).set(newName, a);
    }
  }
}

// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: implicit on-demand paging, a umem over the whole address space.
 *
 * One interval notifier over all of it would be hit by every invalidation
 * of the process.  Instead the parent is split into aligned chunks of
 * ODP_IMPLICIT_CHUNK; the first access to a chunk creates a child umem over
 * it, with its own notifier, and memory mapped after registration is
 * usable at once.  A child that maps nothing any more (its pages were
 * unmapped, dropped or migrated) and that no access uses is freed by the
 * parent's reap work, so the tree of notifiers follows what the device
 * really uses.
 *
 * Locking: parent->lock protects parent->children and parent->dead; a
 * child's users count is taken under it, so the reaper never frees a child
 * an access is about to use.  No access holds parent->lock: the copies run
 * on the child, under the child's own rules (umem.h).
 */
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "umem.h"

static void odp_implicit_reap(struct work_struct *work);

/**
 * odp_umem_create_implicit - an implicit umem over all of @mm
 * @mm: the address space (mmgrab()ed)
 * @memcg: where children and their caches are charged, or NULL
 * @sums: the consumer's totals, or NULL
 *
 * Return: the umem, or an ERR_PTR.  It is used, killed and freed like any
 * other; addresses are the process's virtual addresses.
 */
struct odp_umem *odp_umem_create_implicit(struct mm_struct *mm,
					  struct mem_cgroup *memcg,
					  atomic64_t *sums)
{
	struct odp_umem *parent;

	parent = kzalloc(sizeof(*parent), GFP_KERNEL_ACCOUNT);
	if (!parent)
		return ERR_PTR(-ENOMEM);
	parent->implicit = true;
	parent->start = PAGE_SIZE;	/* page 0 is never mapped */
	parent->end = TASK_SIZE;
	parent->sums = sums;
	mutex_init(&parent->lock);
	xa_init(&parent->children);
	INIT_WORK(&parent->reap, odp_implicit_reap);
	mmgrab(mm);
	parent->mm = mm;
	if (memcg) {
		css_get(&memcg->css);
		parent->memcg = memcg;
	}
	return parent;
}
EXPORT_SYMBOL_GPL(odp_umem_create_implicit);

/* The child of the chunk of @va, created if need be, with a use taken. */
static struct odp_umem *odp_implicit_child_get(struct odp_umem *parent,
					       unsigned long va)
{
	unsigned long index = va >> ODP_IMPLICIT_SHIFT;
	struct odp_umem *child;
	void *old;

	mutex_lock(&parent->lock);
	if (parent->dead) {
		child = ERR_PTR(-EINVAL);
		goto out;
	}
	child = xa_load(&parent->children, index);
	if (!child) {
		child = odp_umem_create(parent->mm, index << ODP_IMPLICIT_SHIFT,
					(index + 1) << ODP_IMPLICIT_SHIFT,
					parent->memcg, parent->sums);
		if (IS_ERR(child))
			goto out;
		child->parent = parent;
		old = xa_store(&parent->children, index, child,
			       GFP_KERNEL_ACCOUNT);
		if (xa_is_err(old)) {
			odp_umem_kill(child);
			odp_umem_free(child);
			child = ERR_PTR(xa_err(old));
			goto out;
		}
	}
	atomic_inc(&child->users);
out:
	mutex_unlock(&parent->lock);
	return child;
}

static void odp_implicit_child_put(struct odp_umem *child)
{
	/* Once users is 0 the reaper may free it: umems are freed by RCU. */
	rcu_read_lock();
	if (atomic_dec_and_test(&child->users))
		odp_implicit_child_idle(child);
	rcu_read_unlock();
}

/*
 * Called when a child may have become idle (an invalidation emptied it,
 * its last access ended): let the reaper look.  Any context.
 */
void odp_implicit_child_idle(struct odp_umem *child)
{
	if (!atomic64_read(&child->stats[ODP_UMEM_STAT_PAGES_MAPPED]) &&
	    !atomic_read(&child->users))
		queue_work(system_unbound_wq, &child->parent->reap);
}

/* Free the children that map nothing and that no access uses. */
static void odp_implicit_reap(struct work_struct *work)
{
	struct odp_umem *parent = container_of(work, struct odp_umem, reap);
	struct odp_umem *child;
	unsigned long index;

	mutex_lock(&parent->lock);
	xa_for_each(&parent->children, index, child) {
		/* Once the parent is dead, its kill and free own the children. */
		if (parent->dead)
			break;
		if (atomic_read(&child->users) ||
		    atomic64_read(&child->stats[ODP_UMEM_STAT_PAGES_MAPPED]))
			continue;
		xa_erase(&parent->children, index);
		/* Nobody can find it now: end it outside the lock. */
		mutex_unlock(&parent->lock);
		odp_umem_kill(child);
		odp_umem_free(child);
		mutex_lock(&parent->lock);
	}
	mutex_unlock(&parent->lock);
}

typedef int (*odp_chunk_fn)(struct odp_umem *child, u64 va, u64 n,
			    void *arg);

/* Run @fn on each chunk of [va, va + len), one child at a time. */
static int odp_implicit_each(struct odp_umem *parent, u64 va, u64 len,
			     odp_chunk_fn fn, void *arg)
{
	u64 end = va + len;
	int ret = 0;

	while (va < end && !ret) {
		u64 n = min_t(u64, end - va, ODP_IMPLICIT_CHUNK -
					     (va & (ODP_IMPLICIT_CHUNK - 1)));
		struct odp_umem *child = odp_implicit_child_get(parent, va);

		if (IS_ERR(child))
			return PTR_ERR(child);
		ret = fn(child, va, n, arg);
		odp_implicit_child_put(child);
		va += n;
	}
	return ret;
}

struct odp_copy_arg {
	void	*buf;
	bool	to_umem;
};

static int odp_implicit_copy_chunk(struct odp_umem *child, u64 va, u64 n,
				   void *arg)
{
	struct odp_copy_arg *c = arg;
	int ret = odp_umem_copy(child, va, c->buf, n, c->to_umem);

	c->buf += n;
	return ret;
}

int odp_implicit_copy(struct odp_umem *parent, u64 va, void *buf, size_t len,
		      bool to_umem)
{
	struct odp_copy_arg c = { .buf = buf, .to_umem = to_umem };

	return odp_implicit_each(parent, va, len, odp_implicit_copy_chunk, &c);
}

int odp_implicit_atomic(struct odp_umem *parent, u64 va,
			enum odp_umem_atomic_op op, u64 a, u64 b, u64 *old)
{
	struct odp_umem *child = odp_implicit_child_get(parent, va);
	int ret;

	if (IS_ERR(child))
		return PTR_ERR(child);
	ret = odp_umem_atomic(child, va, op, a, b, old);
	odp_implicit_child_put(child);
	return ret;
}

static int odp_implicit_fault_chunk(struct odp_umem *child, u64 va, u64 n,
				    void *arg)
{
	return odp_umem_fault(child, va, va + n, *(unsigned int *)arg);
}

int odp_implicit_fault(struct odp_umem *parent, unsigned long start,
		       unsigned long end, unsigned int flags)
{
	return odp_implicit_each(parent, start, end - start,
				 odp_implicit_fault_chunk, &flags);
}

/* No child is created any more; every child ends its accesses. */
void odp_implicit_kill(struct odp_umem *parent)
{
	struct odp_umem *child;
	unsigned long index;

	mutex_lock(&parent->lock);
	parent->dead = true;
	mutex_unlock(&parent->lock);
	/* Children are only erased under the lock by the reaper: stop it. */
	cancel_work_sync(&parent->reap);
	xa_for_each(&parent->children, index, child)
		odp_umem_kill(child);
}

void odp_implicit_free(struct odp_umem *parent)
{
	struct odp_umem *child;
	unsigned long index;

	cancel_work_sync(&parent->reap);
	xa_for_each(&parent->children, index, child)
		odp_umem_free(child);
	xa_destroy(&parent->children);
	mem_cgroup_put(parent->memcg);
	mmdrop(parent->mm);
	kfree(parent);
}

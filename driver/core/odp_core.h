/* SPDX-License-Identifier: GPL-2.0 */
/*
 * odp_core: on-demand paging of user memory for a device, as a library.
 *
 * A umem covers [start, end) of one address space with its own
 * mmu_interval_notifier and a device translation cache (one entry per
 * page: the struct page and whether the device may write it).  Device
 * accesses go through odp_umem_copy() / odp_umem_atomic(), which fault
 * missing pages in with the read_begin / hmm_range_fault() / read_retry
 * loop and hold what they touch "in flight"; the invalidation callback
 * zaps the entries of the range under the umem's lock and waits for the
 * accesses in flight on it before the mm may free the pages.  No page is
 * ever pinned.
 *
 * The core knows nothing of keys, protection domains, queues or wires:
 * its consumers (odp.ko's object layer and transport, the ODP rxe) own
 * those and call in here for the memory.
 *
 * An implicit umem (odp_umem_create_implicit()) covers the whole address
 * space; it is addressed by virtual address and used like any other.
 *
 * Lifetime: odp_umem_create(), then any number of accesses by holders of
 * the consumer's own reference; odp_umem_kill() once the consumer
 * unpublished its object (from then on accesses fail with -EINVAL and
 * none is in flight when it returns); odp_umem_free() once no accessor
 * can still call in.
 */
#ifndef ODP_CORE_H
#define ODP_CORE_H

#include <linux/compiler_types.h>
#include <linux/types.h>

struct dentry;
struct mem_cgroup;
struct mm_struct;
struct odp_umem;

/* Counters of a umem; odp_umem_read_stats() reads them. */
enum odp_umem_stat {
	ODP_UMEM_STAT_FAULTS,		/* fault operations that installed entries */
	ODP_UMEM_STAT_PAGES_FAULTED,	/* entries installed by those faults */
	ODP_UMEM_STAT_INVALIDATIONS,	/* notifier callbacks that hit the umem */
	ODP_UMEM_STAT_PAGES_INVALIDATED, /* entries zapped or write-protected */
	ODP_UMEM_STAT_RETRIES,		/* mmu_interval_read_retry() collisions */
	ODP_UMEM_STAT_BUSY_RETRIES,	/* hmm_range_fault() returned -EBUSY */
	ODP_UMEM_STAT_PREFETCHES,	/* prefetch requests executed */
	ODP_UMEM_STAT_NONBLOCK_INVALIDATIONS, /* non-blockable callbacks handled */
	ODP_UMEM_STAT_NONBLOCK_REFUSED,	/* non-blockable callbacks refused */
	ODP_UMEM_STAT_ACCESSES,		/* device accesses through the cache */
	ODP_UMEM_STAT_ACCESS_BYTES,	/* bytes moved by those accesses */
	ODP_UMEM_STAT_FAULT_ERRORS,	/* faults that failed (unmapped, perm) */
	ODP_UMEM_STAT_PAGES_MAPPED,	/* gauge: entries in the cache now */
	ODP_UMEM_STAT_MAX
};

/*
 * A consumer's totals over all its umems (every count of a umem created
 * with them is added here too).  Per CPU, so that events on different MRs
 * do not bounce one cache line between CPUs: define them with
 * DEFINE_PER_CPU() (or alloc_percpu()) and read them with
 * odp_umem_sums_read().
 */
struct odp_umem_sums {
	u64	v[ODP_UMEM_STAT_MAX];
};

/* What odp_umem_atomic() does to the 8-byte word. */
enum odp_umem_atomic_op {
	ODP_UMEM_CMP_SWAP,	/* if (*w == a) *w = b */
	ODP_UMEM_FETCH_ADD,	/* *w += a */
	ODP_UMEM_WRITE,		/* *w = a, after all earlier writes (release) */
};

/* Flags of odp_umem_fault(). */
#define ODP_UMEM_FAULT_WRITE	BIT(0)	/* the device will write */
#define ODP_UMEM_FAULT_NO_FAULT	BIT(1)	/* map only what is present */
#define ODP_UMEM_FAULT_CHECK	BIT(2)	/* fault nothing: -EAGAIN unless all cached */

struct odp_umem *odp_umem_create(struct mm_struct *mm, unsigned long start,
				 unsigned long end, struct mem_cgroup *memcg,
				 struct odp_umem_sums __percpu *sums);
struct odp_umem *odp_umem_create_implicit(struct mm_struct *mm,
					  struct mem_cgroup *memcg,
					  struct odp_umem_sums __percpu *sums);
void odp_umem_kill(struct odp_umem *umem);
void odp_umem_free(struct odp_umem *umem);

int odp_umem_copy(struct odp_umem *umem, u64 iova, void *buf, size_t len,
		  bool to_umem);
int odp_umem_copy_ahead(struct odp_umem *umem, u64 iova, void *buf,
			size_t len, bool to_umem, size_t ahead);
int odp_umem_atomic(struct odp_umem *umem, u64 iova,
		    enum odp_umem_atomic_op op, u64 a, u64 b, u64 *old);
int odp_umem_fault(struct odp_umem *umem, unsigned long start,
		   unsigned long end, unsigned int flags);
int odp_umem_prefetch(struct odp_umem *umem, unsigned long start,
		      unsigned long end, unsigned int flags);

void odp_umem_count(struct odp_umem *umem, enum odp_umem_stat stat, s64 n);
void odp_umem_read_stats(struct odp_umem *umem, u64 *values, unsigned int n);
void odp_umem_sums_read(struct odp_umem_sums __percpu *sums, u64 *values,
			unsigned int n);
struct mem_cgroup *odp_umem_memcg(struct odp_umem *umem);

struct dentry *odp_core_debugfs_dir(void);

#endif /* ODP_CORE_H */

/* budget.c: the cost budget's estimate, and the memory one run's
 * gateways may spend on request bodies.
 *
 * Budgets themselves (reserve before forwarding, settle after) live with
 * the request flow in gateway.c, under the gateway's lock; this file has
 * the parts that need no gateway: a cost estimate and a byte pool.
 *
 * Why a pool: a request body is buffered whole before it goes upstream
 * (its model and max_tokens price the reservation, and must be read the
 * way the upstream reads them, reqbody.c). Without a bound, 32 handlers
 * x 64 MiB per VM x a fan_out of VMs is gigabytes of orchestrator memory
 * that a hostile guest chooses to spend. Each gateway caps its own VM
 * (GW_VM_BODY_BYTES); the pool caps the sum over a run's VMs.
 */
#include <string.h>

#include "gateway.h"
#include "../llm/llm.h"

/* The price table is the providers table's (host/llm/providers.c).
 * gateway.c names no provider yet, so every upstream is priced at the
 * default provider's list prices, as all of them were before the table.
 * Only for the optional max_usd budget: claude-code's own total_cost_usd
 * remains the number reported per stage. */
double gw_est_cost(const char *model, uint64_t in, uint64_t out)
{
	return llm_est_cost(NULL, model, in, out);
}

void gw_pool_init(struct gw_pool *p, uint64_t cap)
{
	pthread_mutex_init(&p->lock, NULL);
	p->cap = cap;
	p->used = 0;
}

void gw_pool_destroy(struct gw_pool *p)
{
	pthread_mutex_destroy(&p->lock);
}

bool gw_pool_take(struct gw_pool *p, uint64_t n)
{
	if (!p)
		return true;
	pthread_mutex_lock(&p->lock);
	bool ok = n <= p->cap - p->used;
	if (ok)
		p->used += n;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

void gw_pool_give(struct gw_pool *p, uint64_t n)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->used -= n <= p->used ? n : p->used;
	pthread_mutex_unlock(&p->lock);
}

/* tid -> task: open addressing with linear probing and backward-shift delete. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint32_t slot_of(const struct task_table *t, int32_t tid)
{
    return ((uint32_t)tid * 2654435761u) & (t->cap - 1);
}

struct task *tasks_find(struct task_table *t, int32_t tid)
{
    if (t->cap == 0)
        return NULL;
    for (uint32_t i = slot_of(t, tid);; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i].tid == tid)
            return &t->slots[i];
        if (t->slots[i].tid == 0)
            return NULL;
    }
}

static int grow(struct task_table *t)
{
    uint32_t ncap = t->cap ? t->cap * 2 : 64;
    struct task *old = t->slots;
    uint32_t ocap = t->cap;
    struct task *slots = calloc(ncap, sizeof *slots);
    if (!slots)
        return -1;
    t->slots = slots;
    t->cap = ncap;
    for (uint32_t i = 0; i < ocap; i++) {
        if (old[i].tid == 0)
            continue;
        uint32_t j = slot_of(t, old[i].tid);
        while (t->slots[j].tid != 0)
            j = (j + 1) & (t->cap - 1);
        t->slots[j] = old[i];
    }
    free(old);
    return 0;
}

struct task *tasks_add(struct task_table *t, int32_t tid)
{
    struct task *found = tasks_find(t, tid);
    if (found)
        return found;
    if ((t->count + 1) * 2 > t->cap && grow(t) < 0)
        return NULL;
    uint32_t i = slot_of(t, tid);
    while (t->slots[i].tid != 0)
        i = (i + 1) & (t->cap - 1);
    memset(&t->slots[i], 0, sizeof t->slots[i]);
    t->slots[i].tid = tid;
    t->slots[i].pid = tid;
    t->count++;
    return &t->slots[i];
}

void tasks_remove(struct task_table *t, int32_t tid)
{
    struct task *victim = tasks_find(t, tid);
    if (!victim)
        return;
    uint32_t i = (uint32_t)(victim - t->slots);
    uint32_t mask = t->cap - 1;
    t->slots[i].tid = 0;
    t->count--;
    /* shift back later entries of the same probe run */
    for (uint32_t j = (i + 1) & mask; t->slots[j].tid != 0; j = (j + 1) & mask) {
        uint32_t home = slot_of(t, t->slots[j].tid);
        int movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            t->slots[i] = t->slots[j];
            t->slots[j].tid = 0;
            i = j;
        }
    }
}

void tasks_free(struct task_table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

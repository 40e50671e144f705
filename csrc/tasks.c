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
        if (!t->slots[i])
            return NULL;
        if (t->slots[i]->tid == tid)
            return t->slots[i];
    }
}

struct task *tasks_at(const struct task_table *t, uint32_t i)
{
    return i < t->cap ? t->slots[i] : NULL;
}

static int grow(struct task_table *t)
{
    uint32_t ncap = t->cap ? t->cap * 2 : 64;
    struct task **old = t->slots;
    uint32_t ocap = t->cap;
    struct task **slots = calloc(ncap, sizeof *slots);
    if (!slots)
        return -1;
    t->slots = slots;
    t->cap = ncap;
    for (uint32_t i = 0; i < ocap; i++) {
        if (!old[i])
            continue;
        uint32_t j = slot_of(t, old[i]->tid);
        while (t->slots[j])
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
    struct task *task = calloc(1, sizeof *task);
    if (!task)
        return NULL;
    task->tid = tid;
    task->pid = tid;
    uint32_t i = slot_of(t, tid);
    while (t->slots[i])
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = task;
    t->count++;
    return task;
}

void tasks_remove(struct task_table *t, int32_t tid)
{
    if (t->cap == 0)
        return;
    uint32_t mask = t->cap - 1, i = slot_of(t, tid);
    while (t->slots[i] && t->slots[i]->tid != tid)
        i = (i + 1) & mask;
    if (!t->slots[i])
        return;
    free(t->slots[i]);
    t->slots[i] = NULL;
    t->count--;
    /* shift back later entries of the same probe run */
    for (uint32_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        uint32_t home = slot_of(t, t->slots[j]->tid);
        int movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            t->slots[i] = t->slots[j];
            t->slots[j] = NULL;
            i = j;
        }
    }
}

void tasks_free(struct task_table *t)
{
    for (uint32_t i = 0; i < t->cap; i++)
        free(t->slots[i]);
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

/**
 * @file mnemo/mnemo.h
 * Umbrella header: include this to get the whole public API of mnemo.
 */
#ifndef MNEMO_H
#define MNEMO_H

#include "mnemo/collection.h"
#include "mnemo/common.h"
#include "mnemo/db.h"
#include "mnemo/graph.h"
#include "mnemo/iter.h"
#include "mnemo/kv.h"
#include "mnemo/recall.h"
#include "mnemo/record.h"
#include "mnemo/text.h"
#include "mnemo/txn.h"
#include "mnemo/vector.h"

#endif

// Package redisstore is crm.Store on Redis: a single redis-server, Redis Cluster, or the embedded
// in-process server of the zero-setup mode.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: salt})
//	if err != nil {
//		return err
//	}
//	if _, err := st.CheckServer(ctx, false); err != nil { // refuses an evicting server
//		return err
//	}
//
// # Layout
//
//   - keys.go builds every key. A tenant's keys start with "crm:{<tenant>}:": the tenant is the
//     Redis Cluster hash tag, so a tenant lives in one slot and one script may change any of its
//     keys at once. keys_test.go pins each key.
//   - lua/*.lua are the scripts (go:embed), one file each, opening with its KEYS/ARGV contract;
//     helpers.lua, index.lua, history.lua, trigger_reads.lua, mail_drop.lua and schema_audit.lua
//     hold functions some of them share. Every change to more than one key is one script, so it is atomic, and every
//     bulk path sends one script per batch, never one round trip per record.
//   - One Go file per concern (records.go, bin_store.go, permanent.go, jobs.go, flows.go,
//     enrollments.go, search.go, operations.go, ...) implements that part of crm.Store.
//
// # Operations (SPEC S26)
//
// archive.lua records, with each move to the bin, the operation the records join (the call's id,
// "job-<id>" for a bulk job, "wf-<name>-<activated_at>" for a workflow's activation, with
// "_<activation>" after it when an earlier activation of the same millisecond has that id): in the record
// (_deleted_operation), in the operation's hash (OperationKey), in its bin index (OperationBinKey)
// and, at its first move, in the tenant's index (OperationsKey). restore.lua, purge.lua and
// permanent_delete.lua take records out of their operation's bin index in the same step. An undo
// job (create_undo_job.lua) walks that index by id with a cursor kept in the job; each batch is one
// restore.lua call that restores, records failures and progress and moves the cursor only if no
// other runner moved it.
//
// # Bin links
//
// A record moved to the bin keeps its associations on its own side (BinAssocKey), and the live
// records it was associated with lose it. Each record's BinLinksKey holds the reverse: the binned
// records whose BinAssocKey names it. archive.lua adds to it, restore.lua, purge.lua and
// permanent_delete.lua take from it, each in the step that changes the bin association sets, so
// that a permanent delete finds a call binned while its contact was live, and takes an erased id
// out of the binned records that name it, without reading the rest of the bin. A record's own
// BinLinksKey goes with it when it is purged or erased: the binned records it listed keep its id,
// and skip it when restored. Store.BackfillBinLinks builds it for records binned before it existed.
//
// # Guarantees
//
// Scripts get the time as an argument, so a retry replays the same change; the destructive ones
// are idempotent (a batch retried after a lost reply moves nothing twice). With
// Config.WaitReplicas they also wait for that many replicas before answering. A Redis that is down,
// hung or loading fails a call with crm.ErrStoreUnavailable, and a full one with crm.ErrStoreFull. A
// script sent that got no answer (a connection cut or timed out, the context's end) fails with
// crm.ErrOutcomeUnknown as well: it may have run.
package redisstore

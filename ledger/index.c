/*
 * index.c: the EPCIS indexes of the ledger (ehash, ids, edges, locations)
 * and the rules that need them. Called by store.c inside the append
 * transaction, so a block and its index entries land together or not at
 * all.
 *
 * Today: no EPCIS indexes yet (the EPCIS mapping is its own work); both
 * hooks accept every block and write nothing.
 */
#include "ledger/ledger_internal.h"

int ldg__check_rules(ldg *l, MDB_txn *txn, const ldg_parsed_block *pb, char *err, size_t errlen)
{
	(void)l;
	(void)txn;
	(void)pb;
	(void)err;
	(void)errlen;
	return TR_OK;
}

int ldg__index_block(ldg *l, MDB_txn *txn, const ldg_parsed_block *pb, char *err, size_t errlen)
{
	(void)l;
	(void)txn;
	(void)pb;
	(void)err;
	(void)errlen;
	return TR_OK;
}

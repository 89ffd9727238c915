// Package storetest is the contract every readmodel.Store must meet. Each
// implementation runs the same suite from its own tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) readmodel.Store { return newStore(t) })
//	}
//
// newStore must return an empty store owned by the calling (sub)test.
package storetest

import (
	"testing"

	"github.com/agentworkorders/awo/pkg/readmodel"
)

// Run runs the contract suite, one subtest per behaviour, each on a fresh
// store.
func Run(t *testing.T, newStore func(t *testing.T) readmodel.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s readmodel.Store)
	}{
		{"EmptyStore_HasNothing", testEmpty},
		{"Lifecycle_StoresWhatFoldComputes", testLifecycle},
		{"Replay_ChangesNothing", testReplay},
		{"LateEvent_NeverMovesTheRowBack", testLateEvent},
		{"EventOfUnknownWorkOrder_CountsAsApplied", testUnknownWorkOrder},
		{"InvalidEvent_IsReportedAndSkipped", testInvalidEvent},
		{"List_NewestFirst", testListOrder},
		{"List_Filters", testListFilters},
		{"List_Pages", testListPages},
		{"Results_AreCopies", testCopies},
		{"ConcurrentReadsDuringApply", testConcurrent},
		{"Retry_ReopensAndKeepsEveryAttempt", testRetry},
		{"FollowUp_KeepsEveryRoundsSteps", testFollowUp},
		{"Budget_CapShownAndReplacedByARetry", testBudget},
		{"TotalCost_SumOfTheStepResults", testTotalCost},
		{"Waiting_ShownUntilTheStepRunsAgainOrEnds", testWaiting},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.test(t, newStore(t))
		})
	}
}

package readmodel_test

import (
	"testing"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/readmodel/storetest"
)

func TestMemory_Contract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) readmodel.Store { return readmodel.NewMemory() })
}

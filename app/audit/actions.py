"""One vocabulary of audited actions, ``entity:verb``, shared by logs, filters and the chain."""

from enum import StrEnum


class Action(StrEnum):
    ORGANISATION_CREATE = "organisation:create"
    ORGANISATION_UPDATE = "organisation:update"
    ORGANISATION_DELETE = "organisation:delete"
    ORGANISATION_APPROVE = "organisation:approve"
    ORGANISATION_REJECT = "organisation:reject"
    ORGANISATION_SUSPEND = "organisation:suspend"
    ORGANISATION_REINSTATE = "organisation:reinstate"
    ORGANISATION_DEREGISTER = "organisation:deregister"
    ORGANISATION_RESUBMIT = "organisation:resubmit"
    FUNCTION_ADDRESS_CREATE = "function_address:create"
    FUNCTION_ADDRESS_UPDATE = "function_address:update"
    FUNCTION_ADDRESS_DEACTIVATE = "function_address:deactivate"
    FUNCTION_ADDRESS_REACTIVATE = "function_address:reactivate"
    CODE_SYSTEM_CREATE = "code_system:create"
    CODE_CREATE = "code:create"
    AP_OPERATOR_CREATE = "ap_operator:create"
    ACCESS_POINT_CREATE = "access_point:create"
    ENDPOINT_CONFIGURATION_CREATE = "endpoint_configuration:create"
    PARTICIPANT_SERVICE_CREATE = "participant_service:create"
    PARTICIPANT_CERTIFICATE_CREATE = "participant_certificate:create"
    CREDENTIAL_CREATE = "credential:create"
    CREDENTIAL_REVOKE = "credential:revoke"

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from imagegen_site.api_errors import ApiError
from imagegen_site.ratelimits import check_generate_rate_api, starts_generation
from images.services import GenerationRequestError
from images.usage import seconds_until_reset

from .commands import CommandError, parse_message
from .reply import complete_reply
from .models import Chat, Message
from .serializers import ChatSerializer, MessageCreateSerializer, MessageSerializer
from .services import MessageRejected, chat_message_post


class ChatViewSet(viewsets.ModelViewSet):
    serializer_class = ChatSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user (types the id)
            return Chat.objects.none()
        return Chat.objects.for_user(self.request.user)

    def perform_create(self, serializer: ChatSerializer) -> None:
        serializer.save(owner=self.request.user)

    @extend_schema(request=MessageCreateSerializer, responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def messages(self, request: Request, pk: str | None = None) -> Response:
        chat = self.get_object()
        if request.method == "GET":
            messages = chat.messages.select_related("generation")
            page = self.paginate_queryset(messages)
            return self.get_paginated_response(MessageSerializer(page, many=True).data)

        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        content = serializer.validated_data["content"]
        if starts_generation(content):
            check_generate_rate_api(request)  # 429 {"code": "rate_limited"} + Retry-After; nothing saved
        # API clients get a 400 for a malformed command, and nothing is saved; the page shows an error card instead.
        try:
            parse_message(content)
        except CommandError as e:
            raise ApiError(e.message, code=e.code) from None
        try:
            with transaction.atomic():
                messages = chat_message_post(chat=chat, content=content)
                answer = messages[-1]
                if answer.kind == Message.Kind.ERROR:
                    refused = GenerationRequestError(answer.content, code=answer.metadata.get("code", "validation_error"))
                    refused.retry_after_s = answer.metadata.get("retry_after_s")
                    raise refused
        except (MessageRejected, GenerationRequestError) as e:
            if e.code == "quota_exceeded":  # the monthly cap or the daily image limit (images/usage.py)
                raise ApiError(e.message, code=e.code, status_code=429,
                               retry_after=getattr(e, "retry_after_s", None) or seconds_until_reset()) from None
            if e.code == "rate_limited":  # too many images in progress: try again when one finishes
                raise ApiError(e.message, code=e.code, status_code=429, retry_after=10) from None
            raise ApiError(e.message, code=e.code, fields=getattr(e, "fields", None)) from None
        if answer.metadata.get("reply") == "pending":
            # API clients get the chat model's whole answer (the page streams it instead); any image the model
            # started comes back too, and its generation id.
            messages = [messages[0], *complete_reply(answer)]
            answer = next((m for m in messages[1:] if getattr(m, "generation", None) is not None), messages[1])
        data = {"messages": MessageSerializer(messages, many=True).data}
        generation = getattr(answer, "generation", None)
        if generation is not None:
            data["generation"] = generation.pk
            return Response(data, status=status.HTTP_202_ACCEPTED)
        return Response(data, status=status.HTTP_201_CREATED)
